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
