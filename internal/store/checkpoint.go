package store

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Checkpoints off the writer.
//
// In WAL mode a commit appends the pages it changed to the -wal file, and a
// checkpoint copies them back into the database file, with an fsync of each.
// By default SQLite runs one inside the committing connection whenever the
// WAL passes 1,000 pages: on jan's one writer, which every write waits for.
// Under a steady load of stored chat turns that stopped all writes for 10–25
// ms twenty times a second, leaving the CPU idle (docs/BENCHMARKS.md).
//
// So the writer's automatic checkpoints are off (wal_autocheckpoint=0) and a
// goroutine with a connection of its own checkpoints after writes, at most
// every checkpointEvery: a PASSIVE checkpoint, which copies what no reader
// still needs without taking the write lock. A passive checkpoint never
// rewinds the WAL, though — SQLite starts writing it from the beginning
// again only when a writer finds every frame copied, which under constant
// writes it never does — so once the WAL holds restartFrames pages, a
// RESTART checkpoint follows the passive one: it holds writes back while it
// copies the pages committed since and waits (100 ms at most) for readers
// to leave the WAL, so that the next commit starts it over. A passive
// checkpoint of thousands of pages takes tens of milliseconds, and what
// was committed meanwhile, ~1,800 pages under load, was the RESTART's to
// copy while writes waited, up to 60–135 ms (BenchmarkWriteStall,
// docs/BENCHMARKS.md) — so more passive
// checkpoints run first, each copying what was committed during the last,
// until at most restartLeft pages are left (catchUpPasses at most). The
// WAL stays within a few times restartFrames pages and the writer waits
// only for that short step. The RESTART also holds the group committer
// between its transactions (gate) instead of waiting for a gap in its
// writes: SQLite's busy handler would sleep whole milliseconds between
// tries, and every page committed meanwhile would be the RESTART's to copy.
//
// When the store closes, its last connection checkpoints the whole WAL and
// removes it, as SQLite always does.

const (
	checkpointEvery = 100 * time.Millisecond
	restartFrames   = 4096 // pages (16 MiB at SQLite's 4 KiB page size)
	restartLeft     = 64   // pages a RESTART may have to copy
	catchUpPasses   = 4
)

type checkpointer struct {
	db   *sql.DB
	log  *slog.Logger
	gate sync.Mutex    // held by the committer around each batch, and by a RESTART
	kick chan struct{} // a write committed; capacity 1
	quit chan struct{}
	done chan struct{}
	once sync.Once

	restartAt atomic.Int64 // restartFrames; tests lower it
	quick     atomic.Bool  // catch up and hold the committer before a RESTART; benchmarks turn it off to compare

	// For tests: checkpoints run; passive ones that found the WAL shorter
	// than the one before (it started over); the WAL's size in pages; the
	// pages the passive checkpoints left to the RESTARTs, summed.
	passes, restarts, rewinds atomic.Int64
	walPages, leftToRestarts  atomic.Int64
}

// startCheckpointer opens its connection to the database at path (already
// in WAL mode) and starts its goroutine.
func startCheckpointer(path string, log *slog.Logger) (*checkpointer, error) {
	// A RESTART holds writes back while it waits for readers to leave the
	// WAL; the busy timeout bounds that wait (a RESTART that runs out of
	// it reports busy and the next round tries again).
	db, err := sql.Open("sqlite", path+"?_busy_timeout=100")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	c := &checkpointer{db: db, log: log, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	c.restartAt.Store(restartFrames)
	c.quick.Store(true)
	go c.run()
	return c, nil
}

// wrote tells the checkpointer that a write committed. It never blocks.
// A nil checkpointer (no WAL) does nothing.
func (c *checkpointer) wrote() {
	if c == nil {
		return
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// hold keeps a RESTART from starting until release; the committer holds
// it around each batch. A nil checkpointer (no WAL) has nothing to hold.
func (c *checkpointer) hold() {
	if c != nil {
		c.gate.Lock()
	}
}

func (c *checkpointer) release() {
	if c != nil {
		c.gate.Unlock()
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	pace := time.NewTimer(0)
	failing := false
	for {
		select {
		case <-c.quit:
			return
		case <-c.kick:
		}
		err := c.checkpoint()
		if err != nil && sqliteBusy(err) {
			err = nil // another connection (another jan on this file) is checkpointing
		}
		switch {
		case err != nil && !failing:
			c.log.Warn("SQLite checkpoint failed; the WAL grows until one succeeds", "err", err)
		case err == nil && failing:
			c.log.Info("SQLite checkpoints succeed again")
		}
		failing = err != nil
		pace.Reset(checkpointEvery)
		select {
		case <-c.quit:
			return
		case <-pace.C:
		}
	}
}

// checkpoint runs a passive checkpoint, and a restarting one when the WAL
// has grown to restartFrames pages.
func (c *checkpointer) checkpoint() error {
	ctx := context.Background()
	before := c.walPages.Load()
	pages, left, err := c.pragma(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	c.passes.Add(1)
	if pages < before {
		c.rewinds.Add(1)
	}
	if err != nil || pages < c.restartAt.Load() {
		return err
	}
	// A checkpoint copies the pages committed before it began; the next
	// one finds those committed meanwhile (its WAL size less the last one's):
	// at least one more pass, then until few were.
	for i, meanwhile := 0, int64(restartLeft+1); c.quick.Load() && i < catchUpPasses && meanwhile > restartLeft; i++ {
		last := pages
		if pages, left, err = c.pragma(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
			return err
		}
		c.passes.Add(1)
		meanwhile = pages - last + left
	}
	last := pages
	if c.quick.Load() {
		c.gate.Lock()
		defer c.gate.Unlock()
	}
	pages, _, err = c.pragma(ctx, "PRAGMA wal_checkpoint(RESTART)")
	c.restarts.Add(1)
	if err == nil {
		c.leftToRestarts.Add(max(pages-last+left, 0)) // less than 0: the WAL started over meanwhile
	}
	return err
}

// pragma runs one wal_checkpoint pragma and returns the WAL's size in
// pages when it began and how many of them it could not copy (readers
// still need them).
func (c *checkpointer) pragma(ctx context.Context, q string) (pages, left int64, err error) {
	var busy, copied int64
	if err := c.db.QueryRowContext(ctx, q).Scan(&busy, &pages, &copied); err != nil {
		return 0, 0, err
	}
	c.walPages.Store(pages)
	return pages, max(pages-copied, 0), nil
}

// close stops the goroutine and closes its connection. A nil checkpointer
// has nothing to close.
func (c *checkpointer) close() error {
	if c == nil {
		return nil
	}
	c.once.Do(func() { close(c.quit) })
	<-c.done
	return c.db.Close()
}
