package main

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// Made-up keys parse as keyward's secrets (so the server looks them up)
// and are all different.
func TestMadeUpKeysAreWellFormed(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	seen := make(map[string]bool)
	var b []byte
	for range 10_000 {
		b = appendMadeUpKey(b[:0], rng)
		if _, err := keyward.ParseSecret(string(b)); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if seen[string(b)] {
			t.Fatalf("%s twice", b)
		}
		seen[string(b)] = true
	}
	if n := testing.AllocsPerRun(100, func() { b = appendMadeUpKey(b[:0], rng) }); n != 0 {
		t.Errorf("%v allocations per key", n)
	}
}

// The generator's made-up mode sends a new well-formed key with each
// request, and counts a server's answers as it would any.
func TestGenerateMadeUpKeys(t *testing.T) {
	s := newVerifyServer(t)
	r, err := generate(loadSpec{URL: s.URL, Method: "POST", Path: "/verify", MadeUp: true, Connections: 4, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests < 10 || r.errorCount() != 0 {
		t.Fatalf("result %+v", r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, n := range s.seen {
		if _, err := keyward.ParseSecret(key); err != nil {
			t.Fatalf("sent %q: %v", key, err)
		}
		if n != 1 {
			t.Fatalf("sent a key %d times", n)
		}
	}
	if int64(len(s.seen)) < r.Requests {
		t.Errorf("%d distinct keys for %d requests", len(s.seen), r.Requests)
	}
}
