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
// copies the few pages committed since and waits (100 ms at most) for
// readers to leave the WAL, so that the next commit starts it over. The WAL stays within a few
// times restartFrames pages and the writer waits only for that short step.
//
// When the store closes, its last connection checkpoints the whole WAL and
// removes it, as SQLite always does.

const (
	checkpointEvery = 100 * time.Millisecond
	restartFrames   = 4096 // pages (16 MiB at SQLite's 4 KiB page size)
)

type checkpointer struct {
	db   *sql.DB
	log  *slog.Logger
	kick chan struct{} // a write committed; capacity 1
	quit chan struct{}
	done chan struct{}
	once sync.Once

	restartAt atomic.Int64 // restartFrames; tests lower it

	// For tests: checkpoints run; passive ones that found the WAL shorter
	// than the one before (it started over); the WAL's size in pages.
	passes, restarts, rewinds atomic.Int64
	walPages                  atomic.Int64
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
	pages, err := c.pragma(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	c.passes.Add(1)
	if pages < before {
		c.rewinds.Add(1)
	}
	if err != nil || pages < c.restartAt.Load() {
		return err
	}
	_, err = c.pragma(ctx, "PRAGMA wal_checkpoint(RESTART)")
	c.restarts.Add(1)
	return err
}

// pragma runs one wal_checkpoint pragma and returns the WAL's size in pages.
func (c *checkpointer) pragma(ctx context.Context, q string) (pages int64, err error) {
	var busy, copied int64
	if err := c.db.QueryRowContext(ctx, q).Scan(&busy, &pages, &copied); err != nil {
		return 0, err
	}
	c.walPages.Store(pages)
	return pages, nil
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
