package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/keyward/keyward/client"
)

// exampleServer is the Keyward the examples share, started by the first
// that runs and stopped by TestMain.
var exampleServer *server

// exampleKeyward returns the examples' Keyward: a real server on a SQLite
// file in a temporary directory, and its root key. In your code, this is
// your Keyward's address, and a key from `keyward serve`'s first start.
func exampleKeyward() (baseURL, rootKey string) {
	if exampleServer == nil {
		dir, err := os.MkdirTemp("", "keyward-example")
		if err != nil {
			log.Fatal(err)
		}
		s, err := startServer(dir, serverConfig{})
		if err != nil {
			log.Fatal(err)
		}
		stop := s.close
		s.close = func() { stop(); os.RemoveAll(dir) }
		exampleServer = s
	}
	return exampleServer.URL, exampleServer.Root
}

// A platform creates a key for a customer, hands its secret over once, and
// verifies it on each request the customer makes.
func Example() {
	baseURL, rootKey := exampleKeyward()
	ctx := context.Background()

	kw, err := client.New(client.WithBaseURL(baseURL), client.WithAPIKey(rootKey))
	if err != nil {
		log.Fatal(err)
	}
	created, err := kw.Org("acme").CreateKey(ctx, client.KeyCreate{
		Name:        "Backend",
		Permissions: []string{"read", "write"},
		Metadata:    map[string]any{"plan": "pro"},
	})
	if err != nil {
		log.Fatal(err)
	}
	secret := created.Secret.Reveal() // shown once: hand it to the customer now
	fmt.Println("created:", created.Name, created.Permissions, created.State)
	fmt.Println("printed, the secret is", created.Secret)

	v, err := kw.Verify(ctx, secret, client.VerifyOptions{Permissions: []string{"read"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verified:", v.Code, v.OrgID, v.Name, v.Metadata["plan"])
	// Output:
	// created: Backend [read write] active
	// printed, the secret is [REDACTED]
	// verified: VALID acme Backend pro
}

// Keys are listed a page at a time, newest first; AllKeys follows the
// pages.
func ExampleScope_AllKeys() {
	baseURL, rootKey := exampleKeyward()
	ctx := context.Background()
	kw, err := client.New(client.WithBaseURL(baseURL), client.WithAPIKey(rootKey))
	if err != nil {
		log.Fatal(err)
	}
	org := kw.Org("example-list")
	for _, name := range []string{"first", "second", "third"} {
		if _, err := org.CreateKey(ctx, client.KeyCreate{Name: name, Permissions: []string{"read"}}); err != nil {
			log.Fatal(err)
		}
	}
	page, err := org.ListKeys(ctx, client.KeyListOptions{Limit: 2})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("first page:", len(page.Keys), "keys, more:", page.NextCursor != "")

	for k, err := range org.AllKeys(ctx, client.KeyListOptions{Limit: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(k.Name, k.State)
	}
	// Output:
	// first page: 2 keys, more: true
	// third active
	// second active
	// first active
}

// A key with manage acts in its own organization through the
// caller-scoped shape: it may create keys holding permissions it holds
// itself, change them, rotate them and read their audit log.
func ExampleClient_Caller() {
	baseURL, rootKey := exampleKeyward()
	ctx := context.Background()
	root, err := client.New(client.WithBaseURL(baseURL), client.WithAPIKey(rootKey))
	if err != nil {
		log.Fatal(err)
	}
	// A root key names the organization.
	admin, err := root.Caller("432").CreateKey(ctx, client.KeyCreate{Name: "Admin", Permissions: []string{"read", "manage"}})
	if err != nil {
		log.Fatal(err)
	}

	kw, err := client.New(client.WithBaseURL(baseURL), client.WithAPIKey(admin.Secret.Reveal()))
	if err != nil {
		log.Fatal(err)
	}
	own := kw.Caller("")
	worker, err := own.CreateKey(ctx, client.KeyCreate{Name: "Worker", Permissions: []string{"read"}})
	if err != nil {
		log.Fatal(err)
	}
	name := "Worker (nightly)"
	updated, err := own.UpdateKey(ctx, worker.ID, client.KeyUpdate{Name: &name}, client.IfMatch(worker.ETag))
	if err != nil {
		log.Fatal(err)
	}
	rotated, err := own.RotateKey(ctx, worker.ID, time.Hour) // the old secret works one more hour
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(updated.Name, "in", updated.OrgID, "rotated:", rotated.Hint != worker.Hint)

	events, err := own.ListAuditEvents(ctx, client.AuditFilter{KeyID: worker.ID})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range events.Events {
		fmt.Println(e.Action, e.Actor == admin.ID)
	}
	// Output:
	// Worker (nightly) in 432 rotated: true
	// rotate true
	// update true
	// create true
}

// Errors are *client.Error, with the problem document's status, code,
// detail and each bad field.
func ExampleError() {
	baseURL, rootKey := exampleKeyward()
	kw, err := client.New(client.WithBaseURL(baseURL), client.WithAPIKey(rootKey))
	if err != nil {
		log.Fatal(err)
	}
	_, err = kw.Org("acme").CreateKey(context.Background(), client.KeyCreate{Name: "k", Permissions: []string{"admin"}})
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Code)
		for _, f := range e.Fields {
			fmt.Println(f.Field+":", f.Reason)
		}
	}
	// Output:
	// 400 invalid
	// permissions: unknown permission "admin"; allowed: read, write, create, update, delete, manage
}

// Middleware protects a platform's own handler: only requests with a key
// Keyward verifies get through, and the handler reads the key from the
// request's context.
func ExampleMiddleware() {
	baseURL, rootKey := exampleKeyward()

	reportsHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, _ := client.VerifiedKey(r.Context())
		fmt.Fprintf(w, "reports of %s for %s", key.OrgID, key.Name)
	})
	mux := http.NewServeMux()

	kw, err := client.New(client.WithBaseURL(baseURL)) // your Keyward
	if err != nil {
		log.Fatal(err)
	}
	protect := client.Middleware(kw, client.RequirePermissions("read"))
	mux.Handle("GET /reports", protect(reportsHandler))

	// The platform running, and a customer's key.
	platform := httptest.NewServer(mux)
	defer platform.Close()
	admin, err := client.New(client.WithBaseURL(baseURL), client.WithAPIKey(rootKey))
	if err != nil {
		log.Fatal(err)
	}
	customer, err := admin.Org("globex").CreateKey(context.Background(), client.KeyCreate{Name: "Globex CI", Permissions: []string{"read"}})
	if err != nil {
		log.Fatal(err)
	}

	for _, key := range []string{customer.Secret.Reveal(), "kw_made_up", ""} {
		req, _ := http.NewRequest("GET", platform.URL+"/reports", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.SplitN(string(body), ",", 2)[0])
	}
	// Output:
	// 200 reports of globex for Globex CI
	// 401 {"type":"urn:keyward:problem:unauthorized"
	// 401 {"type":"urn:keyward:problem:unauthorized"
}
