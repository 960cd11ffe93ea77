package store

import (
	"context"
	"time"
)

// OpenAtVersion opens dsn migrated up to version only, as an older jan
// left it.
func OpenAtVersion(ctx context.Context, dsn string, version int) (Store, error) {
	return Open(ctx, dsn, Options{AutoMigrate: true, schemaVersion: version})
}

// Exec runs one statement (with ? placeholders; time.Time arguments as the dialect stores them) on st's writer, for tests
// that fill a database through an older schema.
func Exec(ctx context.Context, st Store, query string, args ...any) error {
	s := st.(*sqlStore)
	for i, a := range args {
		if t, ok := a.(time.Time); ok {
			args[i] = s.d.timeArg(t)
		}
	}
	_, err := s.write.ExecContext(ctx, s.d.rebind(query), args...)
	return err
}

// CheckpointAt makes st's checkpointer (SQLite in WAL mode) restart the WAL
// from pages pages instead of restartFrames.
func CheckpointAt(st Store, pages int64) { st.(*sqlStore).ckpt.restartAt.Store(pages) }

// Checkpoints is what st's checkpointer has done: passive checkpoints,
// restarting ones, and passive ones that found the WAL started over.
func Checkpoints(st Store) (passes, restarts, rewinds int64) {
	c := st.(*sqlStore).ckpt
	return c.passes.Load(), c.restarts.Load(), c.rewinds.Load()
}

// QuickRestarts turns on or off what keeps st's RESTART checkpoints short:
// passive ones first until few pages are left, and holding the committer
// instead of waiting for a gap in its writes. Off is the way before.
func QuickRestarts(st Store, on bool) { st.(*sqlStore).ckpt.quick.Store(on) }

// HoldCommitter holds st's committer between batches as a RESTART does,
// until the returned func is called.
func HoldCommitter(st Store) (release func()) {
	c := st.(*sqlStore).ckpt
	c.hold()
	return c.release
}

// LeftToRestarts is how many pages st's RESTART checkpoints had left to
// copy, summed.
func LeftToRestarts(st Store) int64 { return st.(*sqlStore).ckpt.leftToRestarts.Load() }

// WriterPragma reads a pragma on st's writer connection.
func WriterPragma(st Store, name string) (v string, err error) {
	err = st.(*sqlStore).write.QueryRowContext(context.Background(), "PRAGMA "+name).Scan(&v)
	return v, err
}

// PauseCheckpoints stops st's checkpointer (SQLite in WAL mode): the WAL
// then only grows, until Checkpoint or Close.
func PauseCheckpoints(st Store) { _ = st.(*sqlStore).ckpt.close() }

// Checkpoint copies the whole WAL into the database file and empties it
// (wal_checkpoint(TRUNCATE)) on st's writer.
func Checkpoint(st Store) error {
	_, err := st.(*sqlStore).write.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}

// TrustedHistories is how many histories st (SQLite) has served from its
// cache without reading the conversation (historyCache.trusted).
func TrustedHistories(st Store) int64 { return st.(*sqlStore).cache.hits.Load() }

// GroupCommits is what st's group committer (SQLite) has run: batches, the
// operations in them, and the batches that waited for more (commit delay).
func GroupCommits(st Store) (batches, ops, lingered int64) {
	g := st.(*sqlStore).group
	return g.batches.Load(), g.ops.Load(), g.lingered.Load()
}
