package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlite"
)

// importer is what seeding needs of a store: package sqlite's DB has it,
// and package postgres's will (see pg.go).
type importer interface {
	ImportKeys(ctx context.Context, keys []*keyward.Key) error
	Migrate(ctx context.Context) error
	Close() error
}

var _ importer = (*sqlite.DB)(nil)

const (
	keysPerOrg = 1000   // key i is in org-(i mod ceil(N/keysPerOrg))
	seedBatch  = 10_000 // keys per ImportKeys transaction
)

// seedSummary is what the report says of the dataset.
type seedSummary struct {
	Keys    int // ordinary keys (read, write)
	Orgs    int // org-0 ... org-(Orgs-1)
	HotKeys int // keys in the hot set
	// LimitedKeys are as many again as the hot set, in their own
	// organization, each with a rate limit that the scenarios never
	// reach: what the limit costs a verification.
	LimitedKeys int
	Elapsed     time.Duration // open, migrate, generate, import, close
	Store       string
}

// seeded is a seeded store: where its secrets are (files in the temporary
// directory, mode 0600, for the load generators), and the few secrets the
// bench itself uses.
type seeded struct {
	summary     seedSummary
	keysFile    string // every ordinary key, one per line
	hotFile     string // the hot set
	limitedFile string // the keys with a rate limit
	manageFile  string // the org-0 key with manage
	rootFile    string // the root key
	probeKey    keyward.Secret
	manage      keyward.Secret
	root        keyward.Secret
}

// openStore opens the store to seed: a new SQLite file in the temporary
// directory, or PostgreSQL with --database-url.
func (b *bench) openStore(ctx context.Context) (importer, error) {
	if b.o.databaseURL != "" {
		return openPostgres(ctx, b.o.databaseURL)
	}
	db, err := sqlite.Open(ctx, b.dbPath())
	if err != nil {
		return nil, err
	}
	return db, nil
}

func (b *bench) dbPath() string { return filepath.Join(b.dir, "keyward.db") }

// seed fills the store with o.keys keys in batches of seedBatch, made as
// Service makes them, plus a key with manage in org-0 and a root key. Only
// a batch's secrets are in memory at a time: they go to the key files.
func (b *bench) seed(ctx context.Context) (*seeded, error) {
	start := time.Now()
	n := b.o.keys
	s := &seeded{
		keysFile:    filepath.Join(b.dir, "keys.txt"),
		hotFile:     filepath.Join(b.dir, "hot.txt"),
		limitedFile: filepath.Join(b.dir, "limited.txt"),
		manageFile:  filepath.Join(b.dir, "manage.txt"),
		rootFile:    filepath.Join(b.dir, "root.txt"),
	}
	s.summary.Keys = n
	s.summary.Orgs = (n + keysPerOrg - 1) / keysPerOrg
	s.summary.Store = "SQLite"
	if b.o.databaseURL != "" {
		s.summary.Store = "PostgreSQL"
	}
	// The hot set: every stride-th key, so that it spans the organizations.
	hot := min(b.o.hotKeys, n)
	stride := max(1, n/hot)
	isHot := func(i int) bool { return i%stride == 0 && i/stride < hot }

	db, err := b.openStore(ctx)
	if err != nil {
		return nil, fmt.Errorf("open the store: %w", err)
	}
	defer func() {
		if db != nil {
			db.Close()
		}
	}()
	if err := db.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}

	keysOut, err := createSecretFile(s.keysFile)
	if err != nil {
		return nil, err
	}
	defer keysOut.Close()
	hotOut, err := createSecretFile(s.hotFile)
	if err != nil {
		return nil, err
	}
	defer hotOut.Close()
	keysW, hotW := bufio.NewWriterSize(keysOut, 1<<20), bufio.NewWriter(hotOut)

	perms, err := keyward.ParsePermissions([]string{"read", "write"})
	if err != nil {
		return nil, err
	}

	// Workers make batches (a secret costs a few microseconds of
	// crypto/rand, base62 and SHA-256); this goroutine imports them.
	type batch struct {
		first   int
		keys    []*keyward.Key
		secrets []keyward.Secret
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	starts := make(chan int)
	batches := make(chan batch, 2)
	workers := runtime.GOMAXPROCS(0)
	done := make(chan struct{})
	go func() {
		defer close(starts)
		for first := 0; first < n; first += seedBatch {
			select {
			case starts <- first:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for first := range starts {
				m := min(seedBatch, n-first)
				bt := batch{first: first, keys: make([]*keyward.Key, m), secrets: make([]keyward.Secret, m)}
				for j := range m {
					i := first + j
					org := keyward.OrgID(fmt.Sprintf("org-%d", i%s.summary.Orgs))
					bt.keys[j], bt.secrets[j] = newRecord(org, false, fmt.Sprintf("bench key %d", i), perms)
				}
				select {
				case batches <- bt:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		for range workers {
			<-done
		}
		close(batches)
	}()

	imported, lastReport := 0, time.Now()
	for bt := range batches {
		if err := importBatch(ctx, db, bt.keys); err != nil {
			return nil, err
		}
		for j, sec := range bt.secrets {
			line := sec.Reveal() + "\n"
			keysW.WriteString(line)
			if i := bt.first + j; isHot(i) {
				hotW.WriteString(line)
				s.summary.HotKeys++
				if i == 0 {
					s.probeKey = sec
				}
			}
		}
		imported += len(bt.keys)
		if time.Since(lastReport) > 10*time.Second {
			lastReport = time.Now()
			b.logf("seeded %d of %d keys (%.0f keys/s)", imported, n, float64(imported)/time.Since(start).Seconds())
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if imported != n {
		return nil, fmt.Errorf("seeded %d keys, want %d", imported, n)
	}
	for _, w := range []*bufio.Writer{keysW, hotW} {
		if err := w.Flush(); err != nil {
			return nil, fmt.Errorf("write key file: %w", err)
		}
	}

	if err := b.seedLimited(ctx, db, s, hot); err != nil {
		return nil, err
	}

	// Created last, so newest: the manage key heads org-0's list.
	manage, manageSecret := newRecord("org-0", false, "bench manage key", mustPermissions("manage"))
	root, rootSecret := newRecord("", true, "bench root key", keyward.AllPermissions)
	if err := importBatch(ctx, db, []*keyward.Key{manage, root}); err != nil {
		return nil, err
	}
	s.manage, s.root = manageSecret, rootSecret
	for path, sec := range map[string]keyward.Secret{s.manageFile: manageSecret, s.rootFile: rootSecret} {
		if err := writeSecretFile(path, sec); err != nil {
			return nil, err
		}
	}

	err = db.Close()
	db = nil
	if err != nil {
		return nil, err
	}
	s.summary.Elapsed = time.Since(start)
	return s, nil
}

// benchRateLimit is the limit of every rate-limited key: far above what
// the bench can send in a window, so that every answer is VALID and the
// scenario measures the counting, not refusals.
var benchRateLimit = keyward.RateLimit{Name: "requests", Limit: 1_000_000_000, Duration: time.Minute}

// limitedOrg holds the rate-limited keys.
const limitedOrg = "bench-limited"

// seedLimited imports n keys with benchRateLimit and writes their secrets
// to s.limitedFile.
func (b *bench) seedLimited(ctx context.Context, db importer, s *seeded, n int) error {
	out, err := createSecretFile(s.limitedFile)
	if err != nil {
		return err
	}
	defer out.Close()
	w := bufio.NewWriter(out)
	perms := mustPermissions("read", "write")
	for first := 0; first < n; first += seedBatch {
		m := min(seedBatch, n-first)
		keys := make([]*keyward.Key, m)
		secrets := make([]keyward.Secret, m)
		for j := range keys {
			keys[j], secrets[j] = newRecord(limitedOrg, false, fmt.Sprintf("bench limited key %d", first+j), perms)
			keys[j].RateLimits = []keyward.RateLimit{benchRateLimit}
		}
		if err := importBatch(ctx, db, keys); err != nil {
			return err
		}
		for _, sec := range secrets {
			w.WriteString(sec.Reveal() + "\n")
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	s.summary.LimitedKeys = n
	return nil
}

// importBatch imports keys, drawing new ids should a random id collide
// with one already stored (about one chance in 20,000 for a million keys).
func importBatch(ctx context.Context, db importer, keys []*keyward.Key) error {
	for attempt := 1; ; attempt++ {
		err := db.ImportKeys(ctx, keys)
		if keyward.ErrorCode(err) == keyward.ECONFLICT && attempt < 4 {
			for _, k := range keys {
				k.ID = keyward.NewKeyID()
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		return nil
	}
}

// newRecord makes a key as keyward.Service does (newKey): a new secret, a
// random id, the hash and hint of the secret, the creation time in UTC
// truncated to the microsecond. perms are already parsed.
func newRecord(org keyward.OrgID, root bool, name string, perms []keyward.Permission) (*keyward.Key, keyward.Secret) {
	name, err := keyward.ParseName(name)
	if err != nil {
		panic(err) // the bench's own names are valid
	}
	secret := keyward.NewSecret()
	now := time.Now().UTC().Truncate(time.Microsecond)
	return &keyward.Key{
		ID:          keyward.NewKeyID(),
		OrgID:       org,
		Root:        root,
		Name:        name,
		Permissions: perms,
		Hash:        secret.Hash(),
		Hint:        secret.Hint(),
		CreatedAt:   now,
		UpdatedAt:   now,
		CreatedBy:   keyward.ActorCLI,
		Version:     1,
	}, secret
}

func mustPermissions(names ...string) []keyward.Permission {
	ps, err := keyward.ParsePermissions(names)
	if err != nil {
		panic(err)
	}
	return ps
}

// createSecretFile creates a new file that only its owner can read.
func createSecretFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}

func writeSecretFile(path string, s keyward.Secret) error {
	f, err := createSecretFile(path)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s.Reveal() + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
