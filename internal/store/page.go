package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Order values for Page.Order.
const (
	OrderAsc  = "asc"
	OrderDesc = "desc"
)

// window is a Page turned into SQL over a seq column: an extra WHERE term for
// the cursor, the ORDER BY and the LIMIT (one more row than asked for, so the
// caller knows whether there are more).
type window struct {
	after string // " AND seq > ?" or " AND seq < ?", or ""
	args  []any  // the cursor's seq, if any
	order string // " ORDER BY seq ASC" or " ORDER BY seq DESC"
	limit int    // rows to return
}

// clause is the tail of the list query; the caller's query must end in its
// WHERE conditions. Its args follow the caller's own.
func (w window) clause() string { return w.after + w.order + " LIMIT ?" }

func (w window) clauseArgs() []any { return append(w.args, w.limit+1) }

// newWindow resolves p for a list whose items carry prefix ids ("" for
// lists of mixed ids) and whose
// default order is defaultOrder. cursorSeq is a query with a single ? for the
// cursor id followed by scopeArgs: it must return the cursor item's seq only if
// the item is in the listed scope (e.g. the same user's conversations). A
// cursor of the wrong kind, or one not in scope, is ErrBadCursor.
func (s *sqlStore) newWindow(ctx context.Context, p Page, prefix, defaultOrder, cursorSeq string, scopeArgs ...any) (window, error) {
	w := window{limit: p.Limit}
	if w.limit <= 0 {
		w.limit = 20 // the server validates limits; this only guards direct callers
	}
	order := p.Order
	if order == "" {
		order = defaultOrder
	}
	desc := false
	switch order {
	case OrderAsc:
		w.order = " ORDER BY seq ASC"
	case OrderDesc:
		w.order, desc = " ORDER BY seq DESC", true
	default:
		return w, fmt.Errorf("invalid order %q (want %q or %q)", p.Order, OrderAsc, OrderDesc)
	}
	if p.After == "" {
		return w, nil
	}
	if prefix != "" && !hasPrefix(p.After, prefix) {
		return w, fmt.Errorf("%w: %q is not a %s_ id", ErrBadCursor, p.After, prefix)
	}
	var seq int64
	args := append([]any{p.After}, scopeArgs...)
	if err := s.queryRow(ctx, s.read, cursorSeq, args...).Scan(&seq); err != nil {
		if s.d.classify(err) == ErrNotFound {
			return w, fmt.Errorf("%w: %q is not in this list", ErrBadCursor, p.After)
		}
		return w, err
	}
	w.after, w.args = " AND seq > ?", []any{seq}
	if desc {
		w.after = " AND seq < ?"
	}
	return w, nil
}

// collectPage is collect for one page of a list: it stops at w's limit (plus
// the one extra row that tells whether there are more) or, when maxBytes > 0,
// once the items' sizes add up to maxBytes, and reports whether more rows
// follow.
func collectPage[T any](rows *sql.Rows, w window, maxBytes int, targets func(*T) []any, finish func(*T), size func(*T) int) ([]T, bool, error) {
	defer rows.Close()
	list := []T{}
	var v T
	dest := targets(&v)
	total := 0
	for rows.Next() {
		if len(list) == w.limit || (maxBytes > 0 && total >= maxBytes) {
			return list, true, nil
		}
		var zero T
		v = zero
		if err := rows.Scan(dest...); err != nil {
			return nil, false, err
		}
		if finish != nil {
			finish(&v)
		}
		list = append(list, v)
		total += size(&v)
	}
	return list, false, rows.Err()
}
