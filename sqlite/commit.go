package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyward/keyward"
)

// Group commit. With synchronous=FULL every commit waits for the disk, and
// SQLite has one writer: writes committed one by one are bounded by the
// disk's sync rate (about 2,000 a second on a typical SSD; 300 to 600 on
// this project's machine). Instead, one goroutine takes every write
// waiting at the moment and commits them in one transaction: one sync for
// the lot. The writes so batched are the ones made at a request's rate:
// creates, and spends of credits (one per verification of a key with
// credits). Each create runs under its own savepoint, so a conflicting
// one fails alone and the others are stored (a spend needs none: see
// commitBatch).

// maxCommitBatch bounds the writes of one transaction.
const maxCommitBatch = 256

// writeRequest is one write waiting for the committer: a create (key set)
// or a spend of credits (spend set).
type writeRequest struct {
	ctx   context.Context
	key   *keyward.Key
	rec   *keyward.IdempotencyRecord // stored with the key, if not nil
	ev    *keyward.AuditEvent        // the create's audit event, stored with the key, if not nil
	spend *spendRequest
	done  chan error // buffered: the committer never blocks on an answer
}

// spendRequest is a spend of cost of key id's credits at now, and what it
// did, set by the committer before it answers.
type spendRequest struct {
	id     keyward.KeyID
	cost   int64
	now    time.Time
	result keyward.CreditSpend
}

// op names what r does, for its errors.
func (r *writeRequest) op() string {
	if r.spend != nil {
		return "spend credits"
	}
	return "create key"
}

// committer owns the write queue.
type committer struct {
	queue    chan *writeRequest
	closing  chan struct{} // closed by Close
	finished chan struct{} // closed when the committer goroutine ends
	once     sync.Once
}

func (db *DB) startCommitter() {
	db.commit = &committer{
		queue:    make(chan *writeRequest, maxCommitBatch),
		closing:  make(chan struct{}),
		finished: make(chan struct{}),
	}
	go db.runCommitter()
}

// stopCommitter stops taking writes and waits for the last batch.
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
	return db.enqueue(&writeRequest{ctx: ctx, key: k, rec: rec, ev: ev, done: make(chan error, 1)})
}

// enqueue has the committer make req's write, and waits for the answer.
func (db *DB) enqueue(req *writeRequest) error {
	ctx := req.ctx
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", req.op(), err)
	}
	c := db.commit
	select {
	case c.queue <- req:
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", req.op(), ctx.Err())
	case <-c.closing:
		return fmt.Errorf("%s: %w", req.op(), errClosed)
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		// The write may still be committed: the caller learns that its
		// outcome is unknown (a deadline is EUNAVAILABLE), as with any
		// store whose answer is lost on the way.
		return fmt.Errorf("%s: %w", req.op(), ctx.Err())
	case <-c.finished:
		// The committer ended; it answered req if it took it.
		select {
		case err := <-req.done:
			return err
		default:
			return fmt.Errorf("%s: %w", req.op(), errClosed)
		}
	}
}

func (db *DB) runCommitter() {
	c := db.commit
	defer close(c.finished)
	batch := make([]*writeRequest, 0, maxCommitBatch)
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

// commitBatch makes a batch of writes in one transaction and answers
// each. Writes whose context has ended are refused unwritten.
func (db *DB) commitBatch(batch []*writeRequest) {
	live := make([]*writeRequest, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- fmt.Errorf("%s: %w", r.op(), err)
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
			r.done <- fmt.Errorf("%s: %w", r.op(), mapError(r.ctx, err))
		}
	}
	// Prepared before the transaction takes the writer's one connection.
	db.prepareWrites(ctx, createQueries...)
	db.prepareWrites(ctx, spendQueries...)
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		fail(err)
		return
	}
	defer tx.Rollback()
	ptx := preparedTx{Tx: tx, db: db}
	single := len(live) == 1
	for i, r := range live {
		if r.spend != nil {
			// A spend needs no savepoint: it writes at most one
			// statement, after its reads, and a statement that fails
			// writes nothing. An unknown key is its one expected
			// failure; any other (a full disk, a corrupt row) fails the
			// batch, as SQLite may have rolled back the transaction.
			errs[i] = r.write(ctx, ptx)
			if errs[i] != nil && !errors.Is(errs[i], sql.ErrNoRows) {
				fail(errs[i])
				return
			}
			continue
		}
		if single {
			errs[i] = r.write(ctx, ptx)
			continue
		}
		if _, err := ptx.ExecContext(ctx, savepointQuery); err != nil {
			fail(err)
			return
		}
		errs[i] = r.write(ctx, ptx)
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
			r.done <- fmt.Errorf("%s: %w", r.op(), mapError(r.ctx, errs[i]))
		} else {
			r.done <- nil
		}
	}
}

// write makes r's write in tx: a create or a spend.
func (r *writeRequest) write(ctx context.Context, tx preparedTx) error {
	if r.spend != nil {
		res, err := spendCredits(ctx, tx, r.spend.id, r.spend.cost, r.spend.now)
		r.spend.result = res
		return err
	}
	return insertCreate(ctx, tx, r)
}

// insertCreate writes one create: the key, its entries in the
// invalidation log (logCreated) and, if it has them, its idempotency
// record and its audit event. Under the create's savepoint, a
// failure of any of them undoes all.
func insertCreate(ctx context.Context, tx execer, r *writeRequest) error {
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

// The statements of a batch of writes, prepared once (prepareWrites).
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

// QueryRowContext runs query in the transaction, prepared if it is.
func (t preparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if stmt, ok := t.db.writeStmts.Load(query); ok {
		return t.Tx.StmtContext(ctx, stmt.(*sql.Stmt)).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
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
