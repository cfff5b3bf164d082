package apidocs_test

import (
	"context"
	"github.com/keyward/keyward/internal/syncbuf"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/sqlite"
)

// server is a real Keyward for the tests: the HTTP API on a SQLite file
// under the test's temporary directory, on a port of its own.
type server struct {
	URL  string
	Root string // the root key's secret
	svc  *keyward.Service
	logs *syncBuffer
}

// newServer starts a Keyward, stopped when t ends.
func newServer(t *testing.T) *server {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	svc := keyward.NewService(db)
	_, root, ok, err := svc.Bootstrap(ctx)
	if err != nil || !ok {
		t.Fatalf("bootstrap: created=%v err=%v", ok, err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(httpapi.NewHandler(logger, svc, db))
	t.Cleanup(srv.Close)
	return &server{URL: srv.URL, Root: root.Reveal(), svc: svc, logs: logs}
}

// syncBuffer is a log sink safe for the goroutines that write to it.
type syncBuffer = syncbuf.Buffer
