package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/client"
)

// TestEveryOperation runs every method of the client against a real
// server, in both shapes, and then checks that the requests it made reach
// every route httpapi/routes.go lists: a route added to the server without
// a method here fails this test.
func TestEveryOperation(t *testing.T) {
	srv := newServer(t, serverConfig{})
	ctx := context.Background()
	root, rootRec := srv.recordingClient(t, "")

	var secrets []string
	t.Run("probes", func(t *testing.T) {
		if err := root.Health(ctx); err != nil {
			t.Fatal(err)
		}
		if err := root.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		doc, err := root.OpenAPIDocument(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(doc), "openapi:") {
			t.Fatalf("the document starts %q", doc[:min(len(doc), 20)])
		}
		page, err := root.APIReference(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(page), "<!doctype html>") {
			t.Fatalf("the reference page starts %q", page[:min(len(page), 20)])
		}
	})

	acme := root.Org("acme")
	expires := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	var backend *client.CreatedKey
	t.Run("org create and get", func(t *testing.T) {
		var err error
		backend, err = acme.CreateKey(ctx, client.KeyCreate{
			Name: "Backend", Permissions: []string{"READ", "write"}, ExpiresAt: &expires,
			Metadata:   map[string]any{"plan": "free", "customer": "cus_123", "seats": 12345678901234567},
			RateLimits: []client.RateLimit{{Name: "requests", Limit: 100, Duration: time.Minute}, {Name: "burst", Limit: 10, Duration: 1500 * time.Millisecond}},
			Credits:    &client.CreditsInput{Remaining: 1000, Refill: &client.Refill{Amount: 1000, Interval: client.RefillDaily}},
		})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, backend.Secret.Reveal())
		if !strings.HasPrefix(backend.Secret.Reveal(), "kw_") || len(backend.Secret.Reveal()) != 52 {
			t.Fatalf("secret %s is not a Keyward secret", hint(backend.Secret.Reveal()))
		}
		if backend.OrgID != "acme" || backend.Name != "Backend" || !slices.Equal(backend.Permissions, []string{"read", "write"}) ||
			backend.State != client.StateActive || !backend.Enabled || backend.CreatedBy != "root" || backend.ETag == "" ||
			backend.ExpiresAt == nil || !backend.ExpiresAt.Equal(expires) || backend.Hint == "" {
			t.Fatalf("created key %+v", backend.Key)
		}
		if backend.Metadata["seats"] != json.Number("12345678901234567") {
			t.Fatalf("metadata number %v (%T), want it exact", backend.Metadata["seats"], backend.Metadata["seats"])
		}
		wantLimits := []client.RateLimit{{Name: "requests", Limit: 100, Duration: time.Minute}, {Name: "burst", Limit: 10, Duration: 1500 * time.Millisecond}}
		if !slices.Equal(backend.RateLimits, wantLimits) {
			t.Fatalf("rate limits %+v, want %+v", backend.RateLimits, wantLimits)
		}
		if backend.Credits == nil || backend.Credits.Remaining != 1000 || backend.Credits.Refill == nil || *backend.Credits.Refill != (client.Refill{Amount: 1000, Interval: "daily"}) {
			t.Fatalf("credits %+v", backend.Credits)
		}
		got, err := acme.GetKey(ctx, backend.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != backend.ID || got.Hint != backend.Hint || got.ETag != backend.ETag {
			t.Fatalf("got %+v, created %+v", got, backend.Key)
		}
		// The bare number names the key too.
		if got, err = acme.GetKey(ctx, strings.TrimPrefix(backend.ID, "key-")); err != nil || got.ID != backend.ID {
			t.Fatalf("get by number: %v, %v", got, err)
		}
	})

	t.Run("org list, paged", func(t *testing.T) {
		for i := range 3 {
			k, err := acme.CreateKey(ctx, client.KeyCreate{Name: "extra " + strconv.Itoa(i), Permissions: []string{"read"}})
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, k.Secret.Reveal())
		}
		page, err := acme.ListKeys(ctx, client.KeyListOptions{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Keys) != 2 || page.NextCursor == "" || page.Keys[0].Name != "extra 2" {
			t.Fatalf("first page %+v", page)
		}
		next, err := acme.ListKeys(ctx, client.KeyListOptions{Limit: 2, Cursor: page.NextCursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(next.Keys) != 2 || next.NextCursor != "" || next.Keys[1].ID != backend.ID {
			t.Fatalf("second page %+v", next)
		}
		var names []string
		for k, err := range acme.AllKeys(ctx, client.KeyListOptions{Limit: 1}) {
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, k.Name)
		}
		if want := []string{"extra 2", "extra 1", "extra 0", "Backend"}; !slices.Equal(names, want) {
			t.Fatalf("AllKeys: %q, want %q", names, want)
		}
	})

	t.Run("org update, with If-Match", func(t *testing.T) {
		name := "Backend (prod)"
		remaining := int64(500)
		k, err := acme.UpdateKey(ctx, backend.ID, client.KeyUpdate{
			Name:           &name,
			Metadata:       map[string]any{"plan": "pro", "customer": nil},
			ClearExpiresAt: true,
			RateLimits:     []client.RateLimit{{Name: "requests", Limit: 50, Duration: time.Hour}},
			Credits:        &client.CreditsUpdate{Remaining: &remaining, ClearRefill: true},
		}, client.IfMatch(backend.ETag))
		if err != nil {
			t.Fatal(err)
		}
		if k.Name != name || k.ExpiresAt != nil || k.ETag == backend.ETag || len(k.Metadata) != 2 || k.Metadata["plan"] != "pro" ||
			len(k.RateLimits) != 1 || k.RateLimits[0].Duration != time.Hour || k.Credits == nil || k.Credits.Remaining != 500 || k.Credits.Refill != nil {
			t.Fatalf("updated key %+v", k)
		}
		// A writer still holding the first version changes nothing.
		_, err = acme.UpdateKey(ctx, backend.ID, client.KeyUpdate{Name: &name}, client.IfMatch(backend.ETag))
		if e := mustAPIError(t, err, http.StatusPreconditionFailed); e.Code != client.CodePreconditionFailed {
			t.Fatalf("code %q", e.Code)
		}
		// Metadata and credits can be removed whole.
		k, err = acme.UpdateKey(ctx, backend.ID, client.KeyUpdate{ClearMetadata: true, ClearCredits: true, RateLimits: []client.RateLimit{}})
		if err != nil {
			t.Fatal(err)
		}
		if len(k.Metadata) != 0 || k.Credits != nil || len(k.RateLimits) != 0 {
			t.Fatalf("cleared key %+v", k)
		}
		// And set again, with an expiry.
		later := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
		enabled := true
		k, err = acme.UpdateKey(ctx, backend.ID, client.KeyUpdate{
			ExpiresAt: &later, Enabled: &enabled, Permissions: []string{"read", "write", "manage"},
			Metadata: map[string]any{"plan": "pro"},
			Credits:  &client.CreditsUpdate{Remaining: &remaining, Refill: &client.RefillUpdate{Amount: 10, Interval: client.RefillMonthly}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if k.ExpiresAt == nil || !k.ExpiresAt.Equal(later) || len(k.Permissions) != 3 || k.Credits == nil || k.Credits.Refill == nil || k.Credits.Refill.Interval != "monthly" {
			t.Fatalf("key %+v", k)
		}
		if _, err := acme.UpdateKey(ctx, backend.ID, client.KeyUpdate{ExpiresAt: &later, ClearExpiresAt: true}); err == nil {
			t.Fatal("an update both setting and clearing the expiry was sent")
		}
	})

	t.Run("verify", func(t *testing.T) {
		v, err := root.Verify(ctx, backend.Secret.Reveal(), client.VerifyOptions{Permissions: []string{"read"}, Cost: new(int64(2))})
		if err != nil {
			t.Fatal(err)
		}
		if !v.Valid || v.Code != client.VerifyValid || v.KeyID != backend.ID || v.OrgID != "acme" || v.Name != "Backend (prod)" ||
			v.Metadata["plan"] != "pro" || v.ExpiresAt == nil || v.Credits == nil || v.Credits.Remaining != 498 {
			t.Fatalf("verification %+v", v)
		}
		v, err = root.Verify(ctx, backend.Secret.Reveal(), client.VerifyOptions{Permissions: []string{"delete"}})
		if err != nil || v.Valid || v.Code != client.VerifyInsufficientPermissions {
			t.Fatalf("verification %+v, %v", v, err)
		}
		v, err = root.Verify(ctx, "kw_not_a_key", client.VerifyOptions{})
		if err != nil || v.Valid || v.Code != client.VerifyNotFound || v.KeyID != "" {
			t.Fatalf("verification %+v, %v", v, err)
		}
		// A bad permission is the caller's mistake, an error.
		_, err = root.Verify(ctx, backend.Secret.Reveal(), client.VerifyOptions{Permissions: []string{"admin"}})
		mustAPIError(t, err, http.StatusBadRequest)
	})

	t.Run("usage, both shapes", func(t *testing.T) {
		if err := srv.svc.LastUsed.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		// The two verifications above: one valid (of cost 2, one
		// verification), one refused for its permissions.
		want := client.VerificationCounts{Total: 2, Valid: 1, InsufficientPermissions: 1}
		u, err := acme.KeyUsage(ctx, backend.ID, client.UsageRange{})
		if err != nil {
			t.Fatal(err)
		}
		if u.KeyID != backend.ID || u.OrganizationID != "acme" || len(u.Hours) != 168 || u.Totals != want ||
			!u.Until.Equal(u.Since.Add(168*time.Hour)) || u.Hours[166].Total+u.Hours[167].Total != want.Total {
			t.Fatalf("usage %+v, totals %+v", u, u.Totals)
		}
		now := time.Now()
		u, err = root.Caller("").KeyUsage(ctx, backend.ID, client.UsageRange{Since: now.Add(-time.Hour), Until: now})
		if err != nil {
			t.Fatal(err)
		}
		if len(u.Hours) != 2 || u.Totals != want || !u.Hours[1].Hour.Equal(now.Truncate(time.Hour)) {
			t.Fatalf("the last two hours: %+v", u)
		}
		_, err = acme.KeyUsage(ctx, backend.ID, client.UsageRange{Since: now.Add(-40 * 24 * time.Hour)})
		mustAPIError(t, err, http.StatusBadRequest)
		_, err = root.Org("globex").KeyUsage(ctx, backend.ID, client.UsageRange{})
		mustAPIError(t, err, http.StatusNotFound)
	})

	t.Run("rotate with a grace period", func(t *testing.T) {
		r, err := acme.RotateKey(ctx, backend.ID, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, r.Secret.Reveal())
		if r.Secret.Reveal() == backend.Secret.Reveal() || r.Hint == backend.Hint || r.PreviousSecretExpiresAt == nil ||
			r.PreviousSecretExpiresAt.Before(time.Now().Add(23*time.Hour)) {
			t.Fatalf("rotated %+v", r.Key)
		}
		old, err := root.Verify(ctx, backend.Secret.Reveal(), client.VerifyOptions{Cost: new(int64(0))})
		if err != nil || !old.Valid || old.SecretExpiresAt == nil || !old.SecretExpiresAt.Equal(*r.PreviousSecretExpiresAt) {
			t.Fatalf("old secret: %+v, %v", old, err)
		}
		cur, err := root.Verify(ctx, r.Secret.Reveal(), client.VerifyOptions{Cost: new(int64(0))})
		if err != nil || !cur.Valid || cur.SecretExpiresAt != nil {
			t.Fatalf("new secret: %+v, %v", cur, err)
		}
		backend.Secret = r.Secret
	})

	t.Run("disable, enable, delete, restore", func(t *testing.T) {
		k, err := acme.DisableKey(ctx, backend.ID)
		if err != nil || k.Enabled || k.State != client.StateDisabled {
			t.Fatalf("disable: %+v, %v", k, err)
		}
		srv.settle(t)
		if v, err := root.Verify(ctx, backend.Secret.Reveal(), client.VerifyOptions{}); err != nil || v.Code != client.VerifyDisabled {
			t.Fatalf("verify disabled: %+v, %v", v, err)
		}
		if k, err = acme.EnableKey(ctx, backend.ID, client.IfMatch(k.ETag)); err != nil || !k.Enabled || k.State != client.StateActive {
			t.Fatalf("enable: %+v, %v", k, err)
		}
		if err := acme.DeleteKey(ctx, backend.ID, client.IfMatch(k.ETag)); err != nil {
			t.Fatal(err)
		}
		srv.settle(t)
		if v, err := root.Verify(ctx, backend.Secret.Reveal(), client.VerifyOptions{}); err != nil || v.Code != client.VerifyNotFound {
			t.Fatalf("verify deleted: %+v, %v", v, err)
		}
		deleted, err := acme.ListKeys(ctx, client.KeyListOptions{State: client.StateDeleted})
		if err != nil || len(deleted.Keys) != 1 || deleted.Keys[0].ID != backend.ID || deleted.Keys[0].DeletedAt == nil {
			t.Fatalf("deleted list: %+v, %v", deleted, err)
		}
		if k, err = acme.RestoreKey(ctx, backend.ID); err != nil || k.State != client.StateActive || k.DeletedAt != nil {
			t.Fatalf("restore: %+v, %v", k, err)
		}
		_, err = acme.RestoreKey(ctx, backend.ID)
		if e := mustAPIError(t, err, http.StatusConflict); e.Code != client.CodeConflict {
			t.Fatalf("code %q", e.Code)
		}
	})

	t.Run("org audit log, paged and filtered", func(t *testing.T) {
		page, err := acme.ListAuditEvents(ctx, client.AuditFilter{KeyID: backend.ID, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) != 2 || page.NextCursor == "" || page.Events[0].Action != client.ActionRestore || page.Events[1].Action != client.ActionDelete {
			t.Fatalf("page %+v", page)
		}
		var actions []string
		for e, err := range acme.AllAuditEvents(ctx, client.AuditFilter{KeyID: backend.ID, Limit: 2}) {
			if err != nil {
				t.Fatal(err)
			}
			if e.KeyID != backend.ID || e.OrganizationID != "acme" || e.UserAgent != client.DefaultUserAgent || e.RequestID == "" {
				t.Fatalf("event %+v", e)
			}
			actions = append(actions, e.Action)
		}
		want := []string{"restore", "delete", "enable", "disable", "rotate", "update", "update", "update", "create"}
		if !slices.Equal(actions, want) {
			t.Fatalf("actions %q, want %q", actions, want)
		}
		updates, err := acme.ListAuditEvents(ctx, client.AuditFilter{KeyID: backend.ID, Action: client.ActionUpdate, Since: time.Now().Add(-time.Hour), Until: time.Now().Add(time.Hour)})
		if err != nil || len(updates.Events) != 3 {
			t.Fatalf("updates: %+v, %v", updates, err)
		}
		first := updates.Events[2].Changes
		if c, ok := first["name"]; !ok || c.From != "Backend" || c.To != "Backend (prod)" {
			t.Fatalf("changes %+v", first)
		}
	})

	// Caller-scoped: a root key names the organization; a key with manage
	// acts in its own.
	var admin *client.CreatedKey
	t.Run("caller create as root, naming the organization", func(t *testing.T) {
		var err error
		admin, err = root.Caller("432").CreateKey(ctx, client.KeyCreate{Name: "Backend API Key", Permissions: []string{"read", "manage"}})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, admin.Secret.Reveal())
		if admin.OrgID != "432" {
			t.Fatalf("org %q", admin.OrgID)
		}
	})
	adminClient, adminRec := srv.recordingClient(t, admin.Secret.Reveal())
	own := adminClient.Caller("")
	t.Run("caller lifecycle as a manage key", func(t *testing.T) {
		worker, err := own.CreateKey(ctx, client.KeyCreate{Name: "Worker", Permissions: []string{"read"}, Metadata: map[string]any{"team": "ops"}})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, worker.Secret.Reveal())
		if worker.OrgID != "432" || worker.CreatedBy != admin.ID {
			t.Fatalf("worker %+v", worker.Key)
		}
		list, err := own.ListKeys(ctx, client.KeyListOptions{State: client.StateAll})
		if err != nil || len(list.Keys) != 2 {
			t.Fatalf("list: %+v, %v", list, err)
		}
		got, err := own.GetKey(ctx, worker.ID)
		if err != nil || got.ID != worker.ID || got.ETag == "" {
			t.Fatalf("get: %+v, %v", got, err)
		}
		name := "Worker (nightly)"
		if got, err = own.UpdateKey(ctx, worker.ID, client.KeyUpdate{Name: &name}, client.IfMatch(got.ETag)); err != nil || got.Name != name {
			t.Fatalf("update: %+v, %v", got, err)
		}
		if got, err = own.DisableKey(ctx, worker.ID); err != nil || got.Enabled {
			t.Fatalf("disable: %+v, %v", got, err)
		}
		if got, err = own.EnableKey(ctx, worker.ID); err != nil || !got.Enabled {
			t.Fatalf("enable: %+v, %v", got, err)
		}
		rotated, err := own.RotateKey(ctx, worker.ID, 0)
		if err != nil || rotated.PreviousSecretExpiresAt != nil {
			t.Fatalf("rotate: %+v, %v", rotated, err)
		}
		secrets = append(secrets, rotated.Secret.Reveal())
		if err := own.DeleteKey(ctx, worker.ID); err != nil {
			t.Fatal(err)
		}
		if got, err = own.RestoreKey(ctx, worker.ID); err != nil || got.State != client.StateActive {
			t.Fatalf("restore: %+v, %v", got, err)
		}
		events, err := own.ListAuditEvents(ctx, client.AuditFilter{KeyID: worker.ID})
		if err != nil || len(events.Events) != 7 || events.Events[0].Actor != admin.ID {
			t.Fatalf("audit: %+v, %v", events, err)
		}
		// A root key finds one key by its id alone, and reads the
		// organization's log by naming it, or the root keys' without.
		if got, err = root.Caller("").GetKey(ctx, worker.ID); err != nil || got.OrgID != "432" {
			t.Fatalf("root get: %+v, %v", got, err)
		}
		if events, err = root.Caller("432").ListAuditEvents(ctx, client.AuditFilter{Action: client.ActionCreate}); err != nil || len(events.Events) != 2 {
			t.Fatalf("root audit: %+v, %v", events, err)
		}
		if events, err = root.Caller("").ListAuditEvents(ctx, client.AuditFilter{}); err != nil {
			t.Fatal(err)
		}
		for _, e := range events.Events {
			if e.OrganizationID != "" {
				t.Fatalf("root keys' log holds %+v", e)
			}
		}
	})

	t.Run("every request carried what it should", func(t *testing.T) {
		for _, r := range append(rootRec.all(), adminRec.all()...) {
			switch {
			case r.path == "/verify" || r.path == "/healthz" || r.path == "/readyz" || r.path == "/openapi.yaml" || r.path == "/docs":
				if r.authorization != "" {
					t.Errorf("%s %s carried the client's key", r.method, r.path)
				}
			case r.authorization == "":
				t.Errorf("%s %s carried no key", r.method, r.path)
			}
			if r.method == http.MethodPost && strings.HasSuffix(r.path, "/api_keys") && len(r.idempotencyKey) != 32 {
				t.Errorf("a create carried Idempotency-Key %q", r.idempotencyKey)
			}
			if r.method == http.MethodPatch && r.contentType != "application/merge-patch+json" {
				t.Errorf("a PATCH was sent as %q", r.contentType)
			}
		}
	})

	t.Run("the client covers every route", func(t *testing.T) {
		routes := serverRoutes(t)
		mux := http.NewServeMux()
		for _, p := range routes {
			mux.HandleFunc(p, func(http.ResponseWriter, *http.Request) {})
		}
		covered := map[string]bool{}
		for _, r := range append(rootRec.all(), adminRec.all()...) {
			req, _ := http.NewRequest(r.method, "http://x"+r.path, nil)
			if _, pattern := mux.Handler(req); pattern != "" {
				covered[pattern] = true
			}
		}
		var missing []string
		for _, p := range routes {
			if !covered[p] && !notOperations[p] {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			t.Fatalf("routes the client never called: %q", missing)
		}
		if len(routes) < 24 {
			t.Fatalf("read only %d routes from routes.go", len(routes))
		}
	})

	t.Run("no secret in the server's log", func(t *testing.T) {
		noSecretIn(t, "the server's log", srv.logs.String(), append(secrets, srv.Root)...)
	})
}

// notOperations are the routes that are no operation of the API, and
// have no method: the reference page's stylesheet, script and icon, which
// only the page (a browser) asks for.
var notOperations = map[string]bool{"GET /docs/{asset}": true}

// serverRoutes reads every route pattern httpapi/routes.go registers
// (mux.Handle("METHOD /path", ...)), from its source.
func serverRoutes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../httpapi/routes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
			return true
		}
		if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			p, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			routes = append(routes, p)
		}
		return true
	})
	sort.Strings(routes)
	return routes
}

// TestErrors checks that each kind of refusal arrives as a *client.Error
// with its status, code, detail, fields and request id, and that none
// holds a secret.
func TestErrors(t *testing.T) {
	srv := newServer(t, serverConfig{})
	ctx := context.Background()
	root := srv.client(t, "")
	reader, err := root.Org("acme").CreateKey(ctx, client.KeyCreate{Name: "reader", Permissions: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	const madeUp = "kw_0000000000000000000000000000000000000000000000000" // shaped like a key, unknown
	secrets := []string{srv.Root, reader.Secret.Reveal(), madeUp}

	cases := []struct {
		name   string
		call   func() error
		status int
		code   string
		check  func(t *testing.T, e *client.Error)
	}{
		{"400 lists each bad field", func() error {
			_, err := root.Org("acme").CreateKey(ctx, client.KeyCreate{Name: "", Permissions: []string{"admin"}})
			return err
		}, 400, client.CodeInvalid, func(t *testing.T, e *client.Error) {
			fields := map[string]string{}
			for _, f := range e.Fields {
				fields[f.Field] = f.Reason
			}
			if fields["name"] == "" || !strings.Contains(fields["permissions"], "admin") {
				t.Fatalf("fields %+v", e.Fields)
			}
			if !strings.Contains(e.Error(), "permissions: unknown permission") {
				t.Fatalf("Error() = %q lacks the fields", e.Error())
			}
		}},
		{"401 for an unknown key", func() error {
			_, err := srv.client(t, madeUp).Org("acme").ListKeys(ctx, client.KeyListOptions{})
			return err
		}, 401, client.CodeUnauthorized, nil},
		{"403 for a key without manage", func() error {
			_, err := srv.client(t, reader.Secret.Reveal()).Caller("").ListKeys(ctx, client.KeyListOptions{})
			return err
		}, 403, client.CodeForbidden, nil},
		{"404 for a key that does not exist", func() error {
			_, err := root.Org("acme").GetKey(ctx, "key-123")
			return err
		}, 404, client.CodeNotFound, func(t *testing.T, e *client.Error) {
			if e.Instance != "/orgs/acme/api_keys/key-123" || e.Method != "GET" || e.Path != "/orgs/acme/api_keys/key-123" {
				t.Fatalf("error %+v", e)
			}
		}},
		{"412 for a stale version", func() error {
			return root.Org("acme").DeleteKey(ctx, reader.ID, client.IfMatch(`"99"`))
		}, 412, client.CodePreconditionFailed, nil},
		{"422 for an Idempotency-Key used with another request", func() error {
			const idem = "3f1c1b7e0c2d4e5f8a9b0c1d2e3f4a5b"
			k, err := root.Org("acme").CreateKey(ctx, client.KeyCreate{Name: "one", Permissions: []string{"read"}}, client.IdempotencyKey(idem))
			if err != nil {
				return err
			}
			secrets = append(secrets, k.Secret.Reveal())
			_, err = root.Org("acme").CreateKey(ctx, client.KeyCreate{Name: "two", Permissions: []string{"read"}}, client.IdempotencyKey(idem))
			return err
		}, 422, client.CodeUnprocessable, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			e := mustAPIError(t, err, tc.status)
			if e.Code != tc.code || client.ErrorCode(err) != tc.code || e.Type != "urn:keyward:problem:"+tc.code {
				t.Fatalf("code %q, type %q, want %q", e.Code, e.Type, tc.code)
			}
			if e.Title == "" || e.Detail == "" || e.RequestID == "" || !strings.Contains(e.Error(), e.RequestID) {
				t.Fatalf("error %+v lacks a title, a detail or the request id (%q)", e, e.Error())
			}
			if tc.check != nil {
				tc.check(t, e)
			}
			noSecretIn(t, "the error", err.Error(), secrets...)
			noSecretIn(t, "the error printed with %+v", fmtAll(err), secrets...)
		})
	}
}

// TestNoSecretInErrors checks the paths where a client holds a secret
// (its key, a key to verify) and the request fails before any answer, or
// with an answer that is not Keyward's.
func TestNoSecretInErrors(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t, serverConfig{})
	secret := srv.Root
	gone := newServer(t, serverConfig{})
	gone.http.Close() // nothing listens there any more
	c, err := client.New(client.WithBaseURL(gone.URL), client.WithAPIKey(secret), client.WithRetries(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	_, err1 := c.Org("acme").ListKeys(ctx, client.KeyListOptions{})
	_, err2 := c.Verify(ctx, secret, client.VerifyOptions{})
	for _, err := range []error{err1, err2} {
		if err == nil {
			t.Fatal("a request to a closed server succeeded")
		}
		var e *client.Error
		if errors.As(err, &e) {
			t.Fatalf("a failed connection is an *Error: %v", err)
		}
		noSecretIn(t, "the error", err.Error(), secret)
		noSecretIn(t, "the error printed with %+v", fmtAll(err), secret)
	}
	noSecretIn(t, "the client printed", fmtAll(c), secret)
	created, err := srv.client(t, "").Org("acme").CreateKey(ctx, client.KeyCreate{Name: "k", Permissions: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmtAll(created), fmtAll(*created), fmtAll(created.Secret), mustJSON(t, created)} {
		noSecretIn(t, "a created key printed", s, created.Secret.Reveal())
	}
}

// fmtAll prints v every way fmt can.
func fmtAll(v any) string {
	var b strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		b.WriteString(strings.ReplaceAll(fmt.Sprintf(verb, v), "\n", " "))
		b.WriteString("\n")
	}
	return b.String()
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestREADMEProtectsAHandlerAsTheExampleDoes keeps the README's lines that
// protect a handler the ones ExampleMiddleware runs against a real server.
func TestREADMEProtectsAHandlerAsTheExampleDoes(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`client.New(client.WithBaseURL(`,
		`protect := client.Middleware(kw, client.RequirePermissions("read"))`,
		`mux.Handle("GET /reports", protect(reportsHandler))`,
		`key, _ := client.VerifiedKey(r.Context())`,
	} {
		if !strings.Contains(string(readme), line) || !strings.Contains(string(example), line) {
			t.Errorf("%q is not in both README.md and example_test.go", line)
		}
	}
}

// An id that is not one path segment is refused before any request: it
// could otherwise name another route.
func TestIDsThatAreNotOneSegment(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c, rec := srv.recordingClient(t, "")
	ctx := context.Background()
	for _, id := range []string{"", ".", "..", "../audit_events", `key-1\..`} {
		if _, err := c.Org("acme").GetKey(ctx, id); err == nil {
			t.Errorf("key id %q accepted", id)
		}
		if _, err := c.Org(id).ListKeys(ctx, client.KeyListOptions{}); err == nil {
			t.Errorf("organization id %q accepted", id)
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
	// Anything else is escaped into one segment, and is a key that does
	// not exist.
	_, err := c.Org("acme").GetKey(ctx, "key 1?x=y")
	mustAPIError(t, err, http.StatusNotFound)
	if got := rec.all(); len(got) != 1 || got[0].path != "/orgs/acme/api_keys/key 1?x=y" {
		t.Fatalf("requests %+v", got)
	}
}

// A client given no key (or an empty one) sends no Authorization at all.
func TestNoKeyNoAuthorization(t *testing.T) {
	srv := newServer(t, serverConfig{})
	for _, opts := range [][]client.Option{nil, {client.WithAPIKey("")}} {
		rec := &recorder{base: http.DefaultTransport}
		c, err := client.New(append([]client.Option{client.WithBaseURL(srv.URL), client.WithHTTPClient(&http.Client{Transport: rec})}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Caller("").ListKeys(context.Background(), client.KeyListOptions{})
		if e := mustAPIError(t, err, http.StatusUnauthorized); e.Code != client.CodeUnauthorized {
			t.Fatalf("code %q", e.Code)
		}
		if got := rec.all(); len(got) != 1 || got[0].authorization != "" {
			t.Fatalf("requests %+v", got)
		}
	}
}
