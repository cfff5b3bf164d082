package keyward_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keycache"
)

// A key's rate limits and credits, set at its creation, are enforced by
// verifications answered from the cache of keys as by those read from the
// store: the cache carries them, and the credits are spent in the store,
// exactly, whichever answered.
func TestVerifyLimitsThroughTheCache(t *testing.T) {
	_, db := newServiceAndStore(t)
	cache := keycache.New(db, keycache.Options{Unshared: true})
	s := keyward.NewService(cache)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	ctx := context.Background()
	root := mustRoot(t, s)
	k, secret, err := s.CreateKey(ctx, root, "acme", keyward.NewKey{
		Name: "metered", Permissions: []keyward.Permission{keyward.PermRead},
		RateLimits: []keyward.RateLimit{{Name: "requests", Limit: 4, Duration: time.Minute}},
		Credits:    &keyward.Credits{Remaining: 3, Refill: &keyward.Refill{Amount: 3, Interval: keyward.RefillDaily}},
	})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	verify := func(want keyward.VerifyCode, left int64) {
		t.Helper()
		v, err := s.Verify(ctx, secret.Reveal(), nil)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if v.Code != want || v.CreditsRemaining == nil || *v.CreditsRemaining != left {
			t.Fatalf("Verify = %s, credits left %v; want %s, %d", v.Code, v.CreditsRemaining, want, left)
		}
	}
	verify(keyward.VerifyValid, 2) // a miss: read from the store
	verify(keyward.VerifyValid, 1) // hits from here on
	verify(keyward.VerifyValid, 0)
	verify(keyward.VerifyUsageExceeded, 0) // the fourth unit of the rate limit, and no credit
	if v, err := s.Verify(ctx, secret.Reveal(), nil); err != nil || v.Code != keyward.VerifyRateLimited {
		t.Fatalf("the fifth Verify in a minute = %s, %v; want %s", v.Code, err, keyward.VerifyRateLimited)
	}
	if st := cache.Stats(); st.Hits < 4 || st.Loads != 1 {
		t.Errorf("cache %+v: want one load, and the later verifications answered from memory", st)
	}
	stored, err := db.KeyByID(ctx, k.ID)
	if err != nil {
		t.Fatalf("KeyByID: %v", err)
	}
	if stored.Credits == nil || stored.Credits.Remaining != 0 || stored.Version != k.Version {
		t.Errorf("stored credits %+v at version %d; want none left, at version %d", stored.Credits, stored.Version, k.Version)
	}

	// The next day: a new window and a refill.
	now = now.Add(24 * time.Hour)
	verify(keyward.VerifyValid, 2)
}
