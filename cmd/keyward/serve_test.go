package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlite"
)

// TestMainRunAndClose: Run returns with the API already listening; Close
// writes the last uses of keys before it closes the database, frees the
// address, and may be called again.
func TestMainRunAndClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	stdout := newLineWriter()
	m := NewMain(stdout, io.Discard)
	m.Config.Addr = "127.0.0.1:0"
	m.Config.DB.Path = path
	// Only Close's flush can write a use within this test.
	m.Config.LastUsedInterval = time.Hour
	if err := m.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	root := stdout.waitFor(t, rootKeyRE, nil)

	// No waiting: Run has returned, so the API answers.
	base := "http://" + m.Addr()
	status, body := call(t, "POST", base+"/orgs/acme/api_keys", root, `{"name":"used","permissions":["read"]}`)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	var k struct{ ID, Key string }
	if err := json.Unmarshal(body, &k); err != nil {
		t.Fatal(err)
	}
	if status, _ := call(t, "POST", base+"/verify", "", `{"key":"`+k.Key+`"}`); status != http.StatusOK {
		t.Fatalf("verify: %d", status)
	}

	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if conn, err := net.Dial("tcp", m.Addr()); err == nil {
		conn.Close()
		t.Error("the API still accepts connections after Close")
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id, err := keyward.ParseKeyID(k.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Key(context.Background(), "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastUsedAt == nil {
		t.Error("the key's use was not written by Close")
	}
}

// TestMainRunFailures: Run refuses a bad configuration before it opens
// anything, and undoes what it had started when it fails later.
func TestMainRunFailures(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name      string
		configure func(c *ServeConfig)
		usage     bool
		want      string
	}{
		{"bad log level", func(c *ServeConfig) { c.Log.Level = "loud" }, true, "--log-level"},
		{"bad log format", func(c *ServeConfig) { c.Log.Format = "xml" }, true, "--log-format"},
		{"empty cache", func(c *ServeConfig) { c.CacheSize = 0 }, true, "--cache-size"},
		{"no TTL", func(c *ServeConfig) { c.CacheTTL = 0 }, true, "--cache-ttl"},
		{"address in use", func(c *ServeConfig) { c.Addr = busy.Addr().String() }, false, "listen on " + busy.Addr().String()},
		{"debug address in use", func(c *ServeConfig) { c.DebugAddr = busy.Addr().String() }, false, "listen on " + busy.Addr().String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMain(io.Discard, io.Discard)
			m.Config.Addr = "127.0.0.1:0"
			m.Config.DB.Path = filepath.Join(t.TempDir(), "keyward.db")
			tt.configure(&m.Config)
			err := m.Run(t.Context())
			if err == nil {
				m.Close()
				t.Fatal("Run succeeded")
			}
			if isUsage := errors.As(err, new(usageError)); isUsage != tt.usage || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run: %v (usage error: %v), want one naming %q (usage error: %v)", err, isUsage, tt.want, tt.usage)
			}
			if m.db != nil || m.service != nil || m.http != nil || m.debug != nil {
				t.Error("a failed Run left parts running")
			}
			if err := m.Close(); err != nil {
				t.Errorf("Close after a failed Run: %v", err)
			}
		})
	}
}
