package store_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/janhq/jan/internal/store"
	"github.com/janhq/jan/internal/store/pgtest"
)

// A database an older jan made, with conversations in it, gains projects
// when the new jan opens it, and loses nothing.
func TestMigrateToProjects(t *testing.T) {
	for name, dsn := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "jan.db") },
		"postgres": func(t *testing.T) string { return pgtest.URL(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testMigrateToProjects(t, dsn(t))
		})
	}
}

func testMigrateToProjects(t *testing.T, dsn string) {
	ctx := context.Background()
	old, err := store.OpenAtVersion(ctx, dsn, 6)
	if err != nil {
		t.Fatal(err)
	}
	user, now := store.NewID(store.PrefixUser), time.Now().Truncate(time.Millisecond)
	convs := []string{store.NewID(store.PrefixConversation), store.NewID(store.PrefixConversation)}
	for i, id := range convs {
		if err := store.Exec(ctx, old,
			"INSERT INTO conversations (id, user_id, title, metadata, model, created_at, updated_at) VALUES (?, ?, ?, '{}', '', ?, ?)",
			id, user, "old "+id, now.Add(time.Duration(i)*time.Second), now); err != nil {
			t.Fatal(err)
		}
		if err := store.Exec(ctx, old,
			"INSERT INTO messages (id, conversation_id, role, content, status, created_at) VALUES (?, ?, 'user', 'hello', 'completed', ?)",
			store.NewID(store.PrefixMessage), id, now); err != nil {
			t.Fatal(err)
		}
	}
	// The old schema has no projects.
	if err := store.Exec(ctx, old, "SELECT COUNT(*) FROM projects"); err == nil {
		t.Fatal("the version-6 schema already has projects")
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := store.Open(ctx, dsn, store.Options{}); err == nil {
		t.Fatal("opening the old schema without AutoMigrate succeeded")
	}
	st, err := store.Open(ctx, dsn, store.Options{AutoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	list, _, err := st.ListConversations(ctx, user, store.ConversationFilter{}, store.Page{Limit: 10, Order: store.OrderAsc})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != convs[0] || list[1].ID != convs[1] || list[0].Title != "old "+convs[0] || list[0].ProjectID != "" {
		t.Fatalf("conversations after the migration: %+v", list)
	}
	for _, id := range convs {
		hist, err := st.History(ctx, user, id)
		if err != nil || len(hist) != 1 || hist[0].Content != "hello" {
			t.Errorf("history of %s after the migration: %+v, %v", id, hist, err)
		}
	}
	// And the new column works on the old rows.
	p := &store.Project{UserID: user, Name: "Research"}
	if err := st.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateConversation(ctx, user, convs[0], store.ConversationUpdate{ProjectID: &p.ID}); err != nil {
		t.Fatal(err)
	}
	n, err := st.CountConversations(ctx, user, store.ConversationFilter{ProjectID: p.ID})
	if err != nil || n != 1 {
		t.Errorf("conversations in the project after moving one in = %d, %v", n, err)
	}
}

// A new database runs every migration and says so in one line at Info;
// each migration is logged at Debug. Opening it again migrates nothing and
// says nothing.
func TestMigrateLogsOneLine(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	path := filepath.Join(t.TempDir(), "jan.db")
	for i := range 2 {
		buf.Reset()
		st, err := store.Open(context.Background(), path, store.Options{AutoMigrate: true, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		switch {
		case i == 0 && (len(lines) != 1 || !strings.Contains(lines[0], `msg="migrated the database schema"`) ||
			!strings.Contains(lines[0], "migrations=")):
			t.Errorf("a new database logged %d lines, want the one summary:\n%s", len(lines), buf.String())
		case i == 1 && buf.Len() != 0:
			t.Errorf("an up-to-date database logged:\n%s", buf.String())
		}
	}
}
