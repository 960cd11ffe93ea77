package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
)

// maxStmts bounds a pool's statement cache. The store's queries are a fixed
// set (a few dozen, counting the variants of the dynamic ones); past the
// bound, queries simply run unprepared.
const maxStmts = 256

// pool is a *sql.DB with a cache of prepared statements, one per distinct
// query, so a query is parsed and planned once per connection instead of on
// every call (modernc's SQLite driver and database/sql cache nothing; pgx
// would, per connection, but a prepared statement also skips pgx's lookup).
// Every query the store runs through exec, query or queryRow on a pool, or on
// a transaction begun by runTx, uses it.
type pool struct {
	*sql.DB
	d     dialect
	stmts sync.Map // query as written, with ? placeholders → *sql.Stmt
	n     atomic.Int32
}

func newPool(db *sql.DB, d dialect) *pool { return &pool{DB: db, d: d} }

// cached is query's prepared statement, or nil if it is not prepared yet.
func (p *pool) cached(query string) *sql.Stmt {
	if st, ok := p.stmts.Load(query); ok {
		return st.(*sql.Stmt)
	}
	return nil
}

// prepared is query's statement, prepared on first use; nil (run it
// unprepared) when the cache is full.
func (p *pool) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := p.cached(query); st != nil {
		return st, nil
	}
	if p.n.Load() >= maxStmts {
		return nil, nil
	}
	st, err := p.PrepareContext(ctx, p.d.rebind(query))
	if err != nil {
		return nil, err
	}
	if prev, loaded := p.stmts.LoadOrStore(query, st); loaded {
		_ = st.Close() // another caller prepared it first
		return prev.(*sql.Stmt), nil
	}
	p.n.Add(1)
	return st, nil
}

// prepare prepares queries that a transaction ran unprepared, once the
// transaction has given its connection back; failures are left for the next
// use to report.
func (p *pool) prepare(ctx context.Context, queries []string) {
	for _, q := range queries {
		if _, err := p.prepared(ctx, q); err != nil {
			return
		}
	}
}

// Close closes the cached statements and the pool.
func (p *pool) Close() error {
	var errs []error
	p.stmts.Range(func(_, st any) bool {
		errs = append(errs, st.(*sql.Stmt).Close())
		return true
	})
	return errors.Join(append(errs, p.DB.Close())...)
}

// txn is a transaction on a pool, whose queries use the pool's cache.
type txn struct {
	*sql.Tx
	p      *pool
	missed []string // queries not yet in the cache: prepared after the transaction
	// bound are the pool's statements bound to this transaction
	// (Tx.StmtContext), kept for the queries run again in it: a group
	// commit's batch runs the same few statements for every request in it.
	bound map[*sql.Stmt]*sql.Stmt
}

// stmt is query's cached statement bound to t, or nil (run it unprepared).
func (t *txn) stmt(ctx context.Context, query string) *sql.Stmt {
	st := t.p.cached(query)
	if st == nil {
		// Preparing on the pool now would wait for a connection, and the
		// writer's only one is this transaction's: prepare it after.
		t.missed = append(t.missed, query)
		return nil
	}
	if b, ok := t.bound[st]; ok {
		return b
	}
	if t.bound == nil {
		t.bound = make(map[*sql.Stmt]*sql.Stmt, 4)
	}
	b := t.StmtContext(ctx, st)
	t.bound[st] = b
	return b
}
