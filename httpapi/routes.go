package httpapi

import (
	"net/http"

	"github.com/keyward/keyward"
)

// quietRoutes are logged at debug level unless they fail with a 5xx: they
// are the data plane and the probes, answered many times a second, whose
// log lines would drown the management API's and cost a write each; and
// the document and its reference page (with the page's stylesheet and
// script), the other routes that anyone may call without a key and
// succeed, so that no flood of requests without a key writes a line
// each at info level.
var quietRoutes = map[string]bool{
	"POST /verify":      true,
	"GET /healthz":      true,
	"GET /readyz":       true,
	"GET /openapi.yaml": true,
	"GET /docs":         true,
	"GET /docs/{asset}": true,
}

// auditParams are the query parameters of the audit log.
var auditParams = []string{"key_id", "action", "since", "until", "limit", "cursor"}

// usageParams are the query parameters of a key's usage.
var usageParams = []string{"since", "until"}

// addRoutes lists the entire API surface. Each route that reads input
// declares the query parameters it takes (query); any other, or one given
// twice, is a 400. The failure throttle (nil for none) counts /verify's
// NOT_FOUND answers and the management API's 401s per client address.
func addRoutes(mux *http.ServeMux, svc *keyward.Service, db Pinger, o options) {
	throttle := o.throttle
	auth := func(h http.Handler) http.Handler { return throttle.wrap(requireAuth(svc, h)) }

	// The probes, the document and its reference page read no input and change nothing, so no
	// parameter can be misread as a filter; and a load balancer or monitor
	// that adds a cache-busting parameter to a probe must not see a 400 and
	// take a healthy instance out. They ignore the query.
	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(db, o.warming))
	mux.Handle("GET /openapi.yaml", handleOpenAPI(keyward.OpenAPIDocument))
	mux.Handle("GET /docs", handleAPIReference())
	// The reference page's stylesheet and script: not operations of the
	// API, so not in the document (the page is).
	mux.Handle("GET /docs/{asset}", handleAPIReferenceAsset())

	// Verification: the hot path. The key in the body is the credential.
	mux.Handle("POST /verify", throttle.wrap(query(handleVerify(svc, o.observer))))

	// Organization-scoped: the organization is in the path.
	mux.Handle("GET /orgs/{org_id}/api_keys", auth(query(handleKeyList(svc, orgFromPath), "state", "limit", "cursor")))
	mux.Handle("POST /orgs/{org_id}/api_keys", auth(query(handleOrgKeyCreate(svc))))
	mux.Handle("GET /orgs/{org_id}/api_keys/{key_id}", auth(query(handleKeyGet(svc, orgFromPath))))
	mux.Handle("GET /orgs/{org_id}/api_keys/{key_id}/usage", auth(query(handleKeyUsage(svc, orgFromPath), usageParams...)))
	mux.Handle("PATCH /orgs/{org_id}/api_keys/{key_id}", auth(query(handleKeyPatch(svc, orgFromPath))))
	mux.Handle("DELETE /orgs/{org_id}/api_keys/{key_id}", auth(query(handleKeyDelete(svc, orgFromPath))))
	mux.Handle("POST /orgs/{org_id}/api_keys/{key_id}/rotate", auth(query(handleKeyRotate(svc, orgFromPath))))
	mux.Handle("POST /orgs/{org_id}/api_keys/{key_id}/restore", auth(query(handleKeyAction(svc, orgFromPath, restoreKey(svc)))))
	mux.Handle("POST /orgs/{org_id}/api_keys/{key_id}/disable", auth(query(handleKeyAction(svc, orgFromPath, setEnabled(svc, false)))))
	mux.Handle("POST /orgs/{org_id}/api_keys/{key_id}/enable", auth(query(handleKeyAction(svc, orgFromPath, setEnabled(svc, true)))))
	mux.Handle("GET /orgs/{org_id}/audit_events", auth(query(handleAuditList(svc, orgFromPath), auditParams...)))

	// Caller-scoped: the caller's own organization, or the one a root key
	// names with ?organization_id= (or organization_id in a create body);
	// for one key, a root key may leave the organization out.
	mux.Handle("GET /api_keys", auth(query(handleKeyList(svc, orgFromQuery), "organization_id", "state", "limit", "cursor")))
	mux.Handle("POST /api_keys", auth(query(handleCallerKeyCreate(svc))))
	mux.Handle("GET /api_keys/{key_id}", auth(query(handleKeyGet(svc, orgFromQuery), "organization_id")))
	mux.Handle("GET /api_keys/{key_id}/usage", auth(query(handleKeyUsage(svc, orgFromQuery), append([]string{"organization_id"}, usageParams...)...)))
	mux.Handle("PATCH /api_keys/{key_id}", auth(query(handleKeyPatch(svc, orgFromQuery), "organization_id")))
	mux.Handle("DELETE /api_keys/{key_id}", auth(query(handleKeyDelete(svc, orgFromQuery), "organization_id")))
	mux.Handle("POST /api_keys/{key_id}/rotate", auth(query(handleKeyRotate(svc, orgFromQuery), "organization_id")))
	mux.Handle("POST /api_keys/{key_id}/restore", auth(query(handleKeyAction(svc, orgFromQuery, restoreKey(svc)), "organization_id")))
	mux.Handle("POST /api_keys/{key_id}/disable", auth(query(handleKeyAction(svc, orgFromQuery, setEnabled(svc, false)), "organization_id")))
	mux.Handle("POST /api_keys/{key_id}/enable", auth(query(handleKeyAction(svc, orgFromQuery, setEnabled(svc, true)), "organization_id")))
	// The audit log: a root key names the organization, or, naming none,
	// reads the events about root keys.
	mux.Handle("GET /audit_events", auth(query(handleAuditList(svc, orgFromQuery), append([]string{"organization_id"}, auditParams...)...)))
}
