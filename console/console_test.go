package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// The whole flow through the console's forms, as a browser without
// JavaScript makes it: sign in, create a key and read its secret once,
// find it, verify it, edit, rotate, disable, enable, delete, restore, read
// the audit log, sign out.
func TestFlow(t *testing.T) {
	e := newEnv(t)
	_, admin := e.createKey("acme", "Admin", keyward.PermRead, keyward.PermManage)
	b := e.browser()
	b.signIn(admin)

	p := b.post("/console/keys/new", "/console/keys/new", url.Values{"name": {"Backend"}, "permissions": {"read"}, "metadata": {`{"plan":"pro"}`}, "rate_limits": {"requests 100 60s"}})
	if p.status != http.StatusCreated {
		t.Fatalf("create: %d %s", p.status, p.body)
	}
	if p.header.Get("Cache-Control") != "no-store" {
		t.Errorf("the secret's page: Cache-Control %q", p.header.Get("Cache-Control"))
	}
	secret := secretInPage.FindString(p.body)
	if secret == "" {
		t.Fatalf("no secret on the created page: %s", p.body)
	}
	if code := e.verify(secret); code != "VALID" {
		t.Fatalf("verify: %s", code)
	}
	list := b.get("/console/keys")
	if !strings.Contains(list.body, "Backend") || secretInPage.MatchString(list.body) {
		t.Fatalf("list: %s", list.body)
	}
	e.checkNoSecret(secret)
	e.checkNoSecret(admin)
}
