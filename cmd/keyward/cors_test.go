package main

import (
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// preflightTo sends a browser's CORS preflight for POST /verify from
// origin, and returns the answer's status and Allow-Origin.
func preflightTo(t *testing.T, base, origin string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("OPTIONS", base+"/verify", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin")
}

// TestCORSOrigins: serve answers browsers of the origins in
// --cors-origins (or KEYWARD_CORS_ORIGINS), spaces around the commas
// allowed, and no others; without it, a preflight is a 405 as before.
func TestCORSOrigins(t *testing.T) {
	dir := t.TempDir()
	off := startServe(t, filepath.Join(dir, "off.db"))
	if status, allow := preflightTo(t, off.url, "https://app.example.com"); status != http.StatusMethodNotAllowed || allow != "" {
		t.Errorf("without --cors-origins: preflight %d, Allow-Origin %q; want 405 and none", status, allow)
	}

	flag := startServe(t, filepath.Join(dir, "flag.db"), "--cors-origins", "https://app.example.com, http://localhost:3000")
	fromEnv := startMain(t, []string{"--db", filepath.Join(dir, "env.db")},
		env(map[string]string{"KEYWARD_CORS_ORIGINS": "https://app.example.com,http://localhost:3000"}))
	for name, s := range map[string]*server{"flag": flag, "environment": fromEnv} {
		for _, origin := range []string{"https://app.example.com", "http://localhost:3000"} {
			if status, allow := preflightTo(t, s.url, origin); status != http.StatusNoContent || allow != origin {
				t.Errorf("%s: preflight from %s: %d, Allow-Origin %q; want 204 and the origin", name, origin, status, allow)
			}
		}
		if status, allow := preflightTo(t, s.url, "https://evil.example"); status != http.StatusForbidden || allow != "" {
			t.Errorf("%s: preflight from an unlisted origin: %d, Allow-Origin %q; want 403 and none", name, status, allow)
		}
	}
}

// TestCORSOriginsInvalid: a value no browser's Origin could match is a
// usage error naming the flag and what is wrong.
func TestCORSOriginsInvalid(t *testing.T) {
	for _, tt := range []struct{ value, want string }{
		{"https://app.example.com/", "no path"},
		{"https://app.example.com,", "a stray comma"},
		{"*,https://app.example.com", "give it alone"},
		{"app.example.com", "http:// or https://"},
		{"https://app.example.com:443", "write https://app.example.com"},
	} {
		m := NewMain(io.Discard, io.Discard)
		m.Config.Addr = "127.0.0.1:0"
		m.Config.DB.Path = filepath.Join(t.TempDir(), "keyward.db")
		m.Config.CORSOrigins = tt.value
		err := m.Run(t.Context())
		if err == nil {
			m.Close()
			t.Errorf("--cors-origins %q: Run succeeded", tt.value)
			continue
		}
		if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "--cors-origins") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("--cors-origins %q: %v; want a usage error naming the flag and saying %q", tt.value, err, tt.want)
		}
	}
}
