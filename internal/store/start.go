package store

import (
	"context"
	"time"
)

type startKey struct{}

// WithStart marks ctx as a request's that began at t (time.Now() when it
// arrived). Reads made with it see every write committed before t; the
// store uses that to serve some of them from memory without asking the
// database again (on SQLite, a trusted history once the committer has
// looked for other processes' commits after t: ConversationHistory).
func WithStart(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, startKey{}, t)
}

// StartOf is the time WithStart set on ctx, or zero.
func StartOf(ctx context.Context) time.Time {
	t, _ := ctx.Value(startKey{}).(time.Time)
	return t
}
