package store

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Group commit for the SQLite writer.
//
// SQLite has one writer, and most of a small write's cost is its
// transaction: BEGIN, COMMIT, and writing the changed pages to the WAL.
// Instead of taking turns on the writer connection, concurrent writes are
// queued to one goroutine that runs whatever has queued up, up to maxBatch
// operations, in one transaction. Each operation runs in a SAVEPOINT of its
// own, so one that fails is rolled back alone and reports its own error
// (ErrConflict, ErrNotFound, ...), as it would have in a transaction of its
// own. Every caller returns only after the COMMIT that includes its
// operation: a write that returned nil is durable; one that returned an
// error did not happen. A lone operation runs in a plain transaction, no
// savepoint.
//
// The caller's context counts until its operation starts: a caller that
// gives up before then returns ctx.Err() and the operation never runs. Once
// started, an operation runs to the end (with the context's values, without
// its cancellation), because interrupting one statement would roll back the
// whole shared transaction; it is a few statements long.
//
// The committer is also where the history cache (historycache.go) decides
// what it can trust, so that those decisions are ordered with the commits:
// it distrusts the cache before running any write not marked as keeping it
// exact, and when PRAGMA data_version on the writer connection — which
// moves only when another connection commits: another process on the same
// file — has moved since it last looked, which it does in every
// transaction that carries an operation marked look. A write's after
// function (the cache's own bookkeeping of an append) runs right after the
// COMMIT that includes it, before any later operation.

// maxBatch bounds the operations in one transaction.
const maxBatch = 64

// Commit delay. Under concurrent writes most of a batch's cost is the
// batch's own — BEGIN, COMMIT, the WAL pages it writes, the look at
// data_version — and the writer goroutine competes for the CPU with the
// requests that feed it, so batches stay small (2–3 operations at 32
// clients on 2 cores: docs/BENCHMARKS.md). As PostgreSQL's commit_delay
// with commit_siblings does, the committer waits up to lingerFor for more
// operations before it begins a batch, but only while writes come
// concurrently — one of the last lingerAfter batches held more than one
// operation — and only until the batch has lingerUntil. A lone writer,
// whose batches hold one operation each, never waits. Nor do a few writers
// that write back to back: all of them are in the batch within moments of
// its start, each waiting for its commit, and the rest of the wait brings
// nothing. After lingerWasted waits in a row whose last arrival came in
// their first tenth, the committer stops waiting for lingerQuiet, then
// tries again; where writes arrive spread over time (requests doing their
// work between them), waits keep bringing more until their end.
const (
	lingerFor    = 500 * time.Microsecond
	lingerUntil  = 16
	lingerAfter  = 8
	lingerQuiet  = 100 * time.Millisecond
	lingerWasted = 3
)

// errClosed is what a write gets after Close.
var errClosed = errors.New("sql: database is closed")

// errPanicked stands in for the error of an operation that panicked; the
// panic is raised again in the caller's goroutine.
var errPanicked = errors.New("store: write operation panicked")

// txFunc is an atomic write: the statements it runs on q commit together or
// not at all. ctx is the one to run them with.
type txFunc func(ctx context.Context, q queryer) error

type groupCommitter struct {
	s       *sqlStore
	queue   chan *writeOp
	quit    chan struct{}
	stopped chan struct{}
	once    sync.Once

	// For tests: batches run, operations in them, batches that waited for
	// more operations (commit delay).
	batches, ops, lingered atomic.Int64

	dataVersion int64 // PRAGMA data_version when last looked; 0: never (committer only)
	// lookedAt is when the last look at data_version began (monoNow), set
	// once the look has told the history cache what it found: every
	// commit made before then is reflected in what the cache trusts.
	lookedAt atomic.Int64
}

// writeOp is a queued operation. state moves from opQueued to opClaimed (the
// committer is running it) or opAbandoned (its caller gave up), once.
type writeOp struct {
	ctx      context.Context
	fn       txFunc
	single   bool   // fn runs one statement: alone, it needs no transaction
	keeps    bool   // fn changes no conversation row or message behind the history cache
	look     bool   // look at data_version before fn (see groupCommitter)
	after    func() // if not nil, run after the commit that includes fn, when it succeeded
	state    atomic.Int32
	done     chan error // the outcome, sent once
	panicked any
	finished bool // the outcome is sent (committer only)
}

const (
	opQueued int32 = iota
	opClaimed
	opAbandoned
)

func newGroupCommitter(s *sqlStore) *groupCommitter {
	g := &groupCommitter{
		s:       s,
		queue:   make(chan *writeOp, 4*maxBatch),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go g.run()
	return g
}

// do runs op.fn in the next group transaction and returns once that has
// committed (nil) or op.fn or the transaction failed. op carries fn and its
// marks (single, keeps, look, after); do sets the rest.
func (g *groupCommitter) do(ctx context.Context, op *writeOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op.ctx, op.done = ctx, make(chan error, 1)
	select {
	case g.queue <- op:
	case <-ctx.Done():
		return ctx.Err()
	case <-g.stopped:
		return errClosed
	}
	select {
	case err := <-op.done:
		return op.result(err)
	case <-ctx.Done():
		if op.state.CompareAndSwap(opQueued, opAbandoned) {
			return ctx.Err()
		}
		return op.result(<-op.done) // already running: its commit decides
	case <-g.stopped:
		select {
		case err := <-op.done:
			return op.result(err)
		default:
			return errClosed // queued after the committer stopped
		}
	}
}

func (op *writeOp) result(err error) error {
	if op.panicked != nil {
		panic(op.panicked)
	}
	return err
}

// claim takes a queued operation for running; false if its caller gave up.
func (op *writeOp) claim() bool { return op.state.CompareAndSwap(opQueued, opClaimed) }

// close stops the committer after the batch it is running; operations still
// queued fail with errClosed.
func (g *groupCommitter) close() {
	g.once.Do(func() { close(g.quit) })
	<-g.stopped
}

func (g *groupCommitter) run() {
	defer close(g.stopped)
	batch := make([]*writeOp, 0, maxBatch)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	concurrent := 0     // batches left to wait in, since the last that held more than one operation
	var quiet time.Time // no waiting before then (see lingerQuiet)
	wasted := 0         // waits in a row whose last arrival came early
	for {
		select {
		case op := <-g.queue:
			batch = append(batch[:0], op)
		more:
			for len(batch) < maxBatch {
				select {
				case op := <-g.queue:
					batch = append(batch, op)
				default:
					break more
				}
			}
			if concurrent > 0 && len(batch) < lingerUntil && time.Now().After(quiet) {
				g.lingered.Add(1)
				start := time.Now()
				last := start // the last arrival
				linger.Reset(lingerFor)
			wait:
				for len(batch) < lingerUntil {
					select {
					case op := <-g.queue:
						batch = append(batch, op)
						last = time.Now()
					case <-linger.C:
						break wait
					}
				}
				linger.Stop()
				if len(batch) == lingerUntil || last.Sub(start) >= lingerFor/10 {
					wasted = 0
				} else if wasted++; wasted == lingerWasted {
					quiet, wasted = time.Now().Add(lingerQuiet), 0
				}
			}
			if concurrent = max(concurrent-1, 0); len(batch) > 1 {
				concurrent = lingerAfter
			}
			g.batches.Add(1)
			g.ops.Add(int64(len(batch)))
			g.s.ckpt.hold()
			for ops := batch; len(ops) > 0; {
				ops = g.commit(ops)
			}
			g.s.ckpt.release()
			clear(batch)
			g.s.ckpt.wrote()
		case <-g.quit:
			for {
				select {
				case op := <-g.queue:
					if op.claim() {
						op.finish(errClosed)
					}
				default:
					return
				}
			}
		}
	}
}

// commit runs ops, reports each outcome and returns the ones left for
// another transaction (see transact).
func (g *groupCommitter) commit(ops []*writeOp) (rest []*writeOp) {
	if len(ops) == 1 && ops[0].single {
		// A lone statement commits by itself: no BEGIN, no COMMIT.
		if op := ops[0]; op.start() {
			if op.look {
				g.lookAt(g.s.write)
			}
			g.distrustFor(op)
			err := op.call(context.WithoutCancel(op.ctx), g.s.write)
			if err == nil && op.after != nil {
				op.after()
			}
			op.finish(err)
		}
		return nil
	}
	return g.transact(ops, false)
}

// lookAt reads data_version on q (the writer connection, or its
// transaction: BEGIN IMMEDIATE holds other writers off until COMMIT) and
// distrusts the history cache if another connection has committed since
// the last look, or if it cannot tell.
func (g *groupCommitter) lookAt(q queryer) {
	start := monoNow()
	var v int64
	if err := g.s.queryRow(context.Background(), q, "PRAGMA data_version").Scan(&v); err != nil || v != g.dataVersion {
		g.s.cache.distrust()
		g.dataVersion = v
	}
	g.lookedAt.Store(start)
}

// lookedSince reports whether a look that began after t has told the
// history cache what it found.
func (g *groupCommitter) lookedSince(t time.Time) bool {
	return !t.IsZero() && g.lookedAt.Load() > mono(t)
}

// monoBase anchors mono: monotonic times as integers.
var monoBase = time.Now()

func mono(t time.Time) int64 { return int64(t.Sub(monoBase)) }
func monoNow() int64         { return mono(time.Now()) }

// distrustFor distrusts the history cache before an operation that may change a
// conversation behind it.
func (g *groupCommitter) distrustFor(op *writeOp) {
	if !op.keeps {
		g.s.cache.distrust()
	}
}

// transact runs ops in one transaction. The first try runs them one after
// the other, no savepoints: if one fails, the transaction is rolled back and
// the batch run again with a savepoint around each operation, so that only
// the failing ones fail. If the transaction breaks (SQLite rolled it back,
// e.g. on an I/O error), the operations already run in it fail, and the ones
// not yet run are returned, for the next transaction.
func (g *groupCommitter) transact(ops []*writeOp, savepoints bool) (rest []*writeOp) {
	ctx := context.Background() // no interrupts: see the package comment above
	t, err := g.s.write.BeginTx(ctx, nil)
	if err != nil {
		for _, op := range ops {
			if op.start() {
				op.finish(err)
			}
		}
		return nil
	}
	tx := &txn{Tx: t, p: g.s.write}
	defer func() { g.s.write.prepare(ctx, tx.missed) }() // once the connection is free
	if slices.ContainsFunc(ops, func(op *writeOp) bool { return op.look }) {
		g.lookAt(tx)
	}
	ran := make([]*writeOp, 0, len(ops)) // run without error: their outcome is the commit's
	for i, op := range ops {
		if !op.start() {
			continue
		}
		g.distrustFor(op)
		err, broken := g.runOp(tx, op, savepoints)
		if broken != nil {
			_ = t.Rollback()
			if !savepoints && len(ops) > 1 {
				return g.transact(ops, true)
			}
			op.finish(err)
			for _, r := range ran {
				r.finish(broken)
			}
			return ops[i+1:]
		}
		if err != nil {
			op.finish(err)
			continue
		}
		ran = append(ran, op)
	}
	err = t.Commit()
	for _, r := range ran {
		if err == nil && r.after != nil {
			r.after()
		}
	}
	for _, r := range ran {
		r.finish(err)
	}
	return nil
}

// start claims op for running, or reports false if its caller gave up or it
// has its outcome already. An operation claimed by an earlier try of the
// batch starts again.
func (op *writeOp) start() bool {
	switch {
	case op.finished:
		return false
	case op.state.Load() == opClaimed:
		return true
	case !op.claim():
		return false
	}
	if err := op.ctx.Err(); err != nil {
		op.finish(err)
		return false
	}
	return true
}

func (op *writeOp) finish(err error) {
	op.finished = true
	op.done <- err
}

// runOp runs op in tx: in a savepoint of its own if savepoint, else bare (so
// its failure is the transaction's). broken is set when the transaction can
// no longer commit.
func (g *groupCommitter) runOp(tx *txn, op *writeOp, savepoint bool) (err, broken error) {
	ctx := context.WithoutCancel(op.ctx)
	if !savepoint {
		err = op.call(ctx, tx)
		return err, err
	}
	if _, err := g.s.exec(ctx, tx, "SAVEPOINT op"); err != nil {
		return err, err
	}
	err = op.call(ctx, tx)
	if err != nil {
		if _, e := g.s.exec(ctx, tx, "ROLLBACK TO op"); e != nil {
			return err, e
		}
	}
	if _, e := g.s.exec(ctx, tx, "RELEASE op"); e != nil {
		return err, e
	}
	return err, nil
}

func (op *writeOp) call(ctx context.Context, q queryer) (err error) {
	defer func() {
		if v := recover(); v != nil {
			op.panicked, err = v, errPanicked
		}
	}()
	return op.fn(ctx, q)
}
