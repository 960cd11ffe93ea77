package store

import (
	"context"
	"path/filepath"
	"testing"
)

// The statement cache fills up in both places queries run: on the pools and
// inside the writer's (group) transactions, whose misses are prepared once
// the transaction is over.
func TestStatementCache(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "jan.db"), Options{AutoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := st.(*sqlStore)
	user := NewID(PrefixUser)
	conv := &Conversation{UserID: user}
	if err := s.CreateConversation(ctx, conv, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.AppendMessages(ctx, user, conv.ID, []*Message{{Role: RoleUser}, {Role: RoleAssistant}}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.ConversationHistory(ctx, user, conv.ID); err != nil {
			t.Fatal(err)
		}
	}
	if s.write.cached(insertMessagesSQL[2]) == nil {
		t.Error("the messages INSERT run in a write transaction is not in the writer's cache")
	}
	if s.read.cached("SELECT "+historyCols+" FROM messages WHERE conversation_id = ? ORDER BY seq") == nil {
		t.Error("the history query run in a read transaction is not in the readers' cache")
	}
	before := s.write.n.Load()
	if err := s.AppendMessages(ctx, user, conv.ID, []*Message{{Role: RoleUser}, {Role: RoleAssistant}}); err != nil {
		t.Fatal(err)
	}
	if after := s.write.n.Load(); after != before {
		t.Errorf("a repeated AppendMessages prepared %d more statements", after-before)
	}
}
