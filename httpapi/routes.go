package httpapi

import (
	"net/http"

	"github.com/keyward/keyward"
)

// quietRoutes are logged at debug level unless they fail with a 5xx: they
// are the data plane and the probes, answered many times a second, whose
// log lines would drown the management API's and cost a write each.
var quietRoutes = map[string]bool{
	"POST /verify": true,
	"GET /healthz": true,
	"GET /readyz":  true,
}

// addRoutes lists the entire API surface.
func addRoutes(mux *http.ServeMux, svc *keyward.Service, db Pinger) {
	auth := func(h http.Handler) http.Handler { return requireAuth(svc, h) }

	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(db))
	mux.Handle("GET /openapi.yaml", handleOpenAPI(keyward.OpenAPIDocument))

	// Verification: the hot path. The key in the body is the credential.
	mux.Handle("POST /verify", handleVerify(svc))

	// Organization-scoped: the organization is in the path.
	mux.Handle("GET /orgs/{org_id}/api_keys", auth(handleKeyList(svc, orgFromPath)))
	mux.Handle("POST /orgs/{org_id}/api_keys", auth(handleOrgKeyCreate(svc)))
	mux.Handle("GET /orgs/{org_id}/api_keys/{key_id}", auth(handleKeyGet(svc, orgFromPath)))
	mux.Handle("DELETE /orgs/{org_id}/api_keys/{key_id}", auth(handleKeyDelete(svc, orgFromPath)))

	// Caller-scoped: the caller's own organization, or the one a root key
	// names with ?organization_id= (or organization_id in a create body);
	// for one key, a root key may leave the organization out.
	mux.Handle("GET /api_keys", auth(handleKeyList(svc, orgFromQuery)))
	mux.Handle("POST /api_keys", auth(handleCallerKeyCreate(svc)))
	mux.Handle("GET /api_keys/{key_id}", auth(handleKeyGet(svc, orgFromQuery)))
	mux.Handle("DELETE /api_keys/{key_id}", auth(handleKeyDelete(svc, orgFromQuery)))
}
