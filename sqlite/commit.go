package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/keyward/keyward"
)

// Group commit. With synchronous=FULL every commit waits for the disk, and
// SQLite has one writer: creates committed one by one are bounded by the
// disk's sync rate (about 2,000 a second on a typical SSD). Instead, one
// goroutine takes every create waiting at the moment and commits them in
// one transaction: one sync for the lot. Each create runs under its own
// savepoint, so a conflicting one fails alone and the others are stored.

// maxCommitBatch bounds the creates of one transaction.
const maxCommitBatch = 256

// createRequest is one CreateKey waiting for the committer.
type createRequest struct {
	ctx  context.Context
	key  *keyward.Key
	rec  *keyward.IdempotencyRecord // stored with the key, if not nil
	ev   *keyward.AuditEvent        // the create's audit event, stored with the key, if not nil
	done chan error                 // buffered: the committer never blocks on an answer
}

// committer owns the create queue.
type committer struct {
	queue    chan *createRequest
	closing  chan struct{} // closed by Close
	finished chan struct{} // closed when the committer goroutine ends
	once     sync.Once
}

func (db *DB) startCommitter() {
	db.commit = &committer{
		queue:    make(chan *createRequest, maxCommitBatch),
		closing:  make(chan struct{}),
		finished: make(chan struct{}),
	}
	go db.runCommitter()
}

// stopCommitter stops taking creates and waits for the last batch.
func (db *DB) stopCommitter() {
	c := db.commit
	c.once.Do(func() { close(c.closing) })
	<-c.finished
}

var errClosed = fmt.Errorf("database closed")

// CreateKey stores k and, in the same transaction, ev if not nil. It fails with ECONFLICT if k's id or secret hash is
// taken, by a live key or a deleted one. It returns once k is durable (or
// refused). A create whose context ends before its transaction begins is
// not written; one whose context ends while its transaction runs returns
// the context's error, and may have been written.
func (db *DB) CreateKey(ctx context.Context, k *keyward.Key, ev *keyward.AuditEvent) error {
	return db.enqueueCreate(ctx, k, nil, ev)
}

// enqueueCreate has the committer store k, and rec and ev if not nil, and
// waits for the answer.
func (db *DB) enqueueCreate(ctx context.Context, k *keyward.Key, rec *keyward.IdempotencyRecord, ev *keyward.AuditEvent) error {
	if k == nil {
		return fmt.Errorf("create key: no key")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	c := db.commit
	req := &createRequest{ctx: ctx, key: k, rec: rec, ev: ev, done: make(chan error, 1)}
	select {
	case c.queue <- req:
	case <-ctx.Done():
		return fmt.Errorf("create key: %w", ctx.Err())
	case <-c.closing:
		return fmt.Errorf("create key: %w", errClosed)
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		// The create may still be committed: the caller learns that its
		// outcome is unknown (a deadline is EUNAVAILABLE), as with any
		// store whose answer is lost on the way.
		return fmt.Errorf("create key: %w", ctx.Err())
	case <-c.finished:
		// The committer ended; it answered req if it took it.
		select {
		case err := <-req.done:
			return err
		default:
			return fmt.Errorf("create key: %w", errClosed)
		}
	}
}

func (db *DB) runCommitter() {
	c := db.commit
	defer close(c.finished)
	batch := make([]*createRequest, 0, maxCommitBatch)
	for {
		select {
		case req := <-c.queue:
			batch = append(batch[:0], req)
		case <-c.closing:
			return
		}
	more:
		for len(batch) < maxCommitBatch {
			select {
			case req := <-c.queue:
				batch = append(batch, req)
			default:
				break more
			}
		}
		db.commitBatch(batch)
	}
}

// commitBatch stores a batch of creates in one transaction and answers
// each. Creates whose context has ended are refused unwritten.
func (db *DB) commitBatch(batch []*createRequest) {
	live := make([]*createRequest, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- fmt.Errorf("create key: %w", err)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	// The transaction belongs to no one request: one caller giving up must
	// not abort the others' writes. busy_timeout bounds its waits.
	ctx := context.Background()
	errs := make([]error, len(live))
	fail := func(err error) {
		for _, r := range live {
			r.done <- fmt.Errorf("create key: %w", mapError(r.ctx, err))
		}
	}
	// Prepared before the transaction takes the writer's one connection.
	db.prepareWrites(ctx, createQueries...)
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		fail(err)
		return
	}
	defer tx.Rollback()
	ptx := preparedTx{Tx: tx, db: db}
	single := len(live) == 1
	for i, r := range live {
		if single {
			errs[i] = insertCreate(ctx, ptx, r)
			continue
		}
		if _, err := ptx.ExecContext(ctx, savepointQuery); err != nil {
			fail(err)
			return
		}
		errs[i] = insertCreate(ctx, ptx, r)
		if errs[i] != nil {
			if _, err := ptx.ExecContext(ctx, rollbackToQuery); err != nil {
				fail(err)
				return
			}
		}
		if _, err := ptx.ExecContext(ctx, releaseQuery); err != nil {
			fail(err)
			return
		}
	}
	stored := 0
	for _, err := range errs {
		if err == nil {
			stored++
		}
	}
	if stored > 0 {
		if err := tx.Commit(); err != nil {
			fail(err)
			return
		}
	}
	for i, r := range live {
		if errs[i] != nil {
			r.done <- fmt.Errorf("create key: %w", mapError(r.ctx, errs[i]))
		} else {
			r.done <- nil
		}
	}
}

// insertCreate writes one create: the key, its entries in the
// invalidation log (logCreated) and, if it has them, its idempotency
// record and its audit event. Under the create's savepoint, a
// failure of any of them undoes all.
func insertCreate(ctx context.Context, tx execer, r *createRequest) error {
	if err := insertKey(ctx, tx, r.key); err != nil {
		return err
	}
	if err := logCreated(ctx, tx, r.key); err != nil {
		return err
	}
	if r.rec != nil {
		if err := insertIdempotency(ctx, tx, r.rec); err != nil {
			return err
		}
	}
	if r.ev != nil {
		return insertEvent(ctx, tx, r.ev)
	}
	return nil
}

// execer runs statements: a *sql.Tx, or a preparedTx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// The statements of a batch of creates, prepared once (prepareWrites).
const (
	savepointQuery  = `SAVEPOINT create_key`
	rollbackToQuery = `ROLLBACK TO create_key`
	releaseQuery    = `RELEASE create_key`
)

var createQueries = []string{
	savepointQuery, rollbackToQuery, releaseQuery, insertKeyQuery, insertLastUsedQuery, logInvalidationQuery,
	insertEventQuery, replaceExpiredIdempotencyQuery, insertIdempotencyQuery,
}

// preparedTx runs a transaction's statements through the writer's
// prepared statements where prepareWrites made them, rather than having
// the driver prepare and finalize each statement at each call: a create
// runs several, and parsing them cost about as much as running them.
type preparedTx struct {
	*sql.Tx
	db *DB
}

// ExecContext runs query in the transaction, prepared if it is.
func (t preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if stmt, ok := t.db.writeStmts.Load(query); ok {
		return t.Tx.StmtContext(ctx, stmt.(*sql.Stmt)).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

// prepareWrites prepares each query on the writer that is not prepared
// yet. It must not be called inside a transaction of the writer, whose one
// connection the transaction holds. A query it cannot prepare (the table
// is not there yet) is left to be prepared by the driver at each call.
func (db *DB) prepareWrites(ctx context.Context, queries ...string) {
	for _, q := range queries {
		if _, ok := db.writeStmts.Load(q); ok {
			continue
		}
		db.mu.Lock()
		if _, ok := db.writeStmts.Load(q); !ok {
			if stmt, err := db.write.PrepareContext(ctx, q); err == nil {
				db.writeStmts.Store(q, stmt)
			}
		}
		db.mu.Unlock()
	}
}
