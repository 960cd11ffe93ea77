package server

import (
	"encoding/json"
	"net/http"

	"github.com/janhq/jan/internal/store"
)

// The OpenAI Conversations "items" endpoints are views over the same stored
// messages: the item id is the message id.

type itemContent struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type itemJSON struct {
	Type    string        `json:"type"`
	ID      string        `json:"id"`
	Role    string        `json:"role"`
	Content []itemContent `json:"content"`
	Status  string        `json:"status"`
}

func toItemJSON(m *store.Message) itemJSON {
	kind := "input_text"
	if m.Role == store.RoleAssistant {
		kind = "output_text"
	}
	return itemJSON{Type: "message", ID: m.ID, Role: m.Role, Content: []itemContent{{Type: kind, Text: m.Content}}, Status: m.Status}
}

func (s *Server) createItems(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	msgs, err := parseItems(req.Items, 1)
	if err != nil {
		writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	if err := s.store.AppendMessages(r.Context(), principal(r).ID, id, msgs); err != nil {
		writeError(w, r, notFoundAs(err, "conversation_not_found", "conversation %q not found", id))
		return
	}
	out := make([]itemJSON, len(msgs))
	for i, m := range msgs {
		out[i] = toItemJSON(m)
	}
	writeJSON(w, http.StatusOK, newList(out, false, msgs[0].ID, msgs[len(msgs)-1].ID))
}

func (s *Server) listItems(w http.ResponseWriter, r *http.Request) {
	s.writeMessages(w, r, "desc", func(m *store.Message) any { return toItemJSON(m) })
}

func (s *Server) message(r *http.Request) (*store.Message, error) {
	id, item := r.PathValue("id"), r.PathValue("item_id")
	m, err := s.store.GetMessage(r.Context(), principal(r).ID, id, item)
	if err != nil {
		return nil, notFoundAs(err, "item_not_found", "item %q not found in conversation %q", item, id)
	}
	return m, nil
}

func (s *Server) getItem(w http.ResponseWriter, r *http.Request) {
	m, err := s.message(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toItemJSON(m))
}

// deleteItem removes the message and, as OpenAI does, returns the conversation.
func (s *Server) deleteItem(w http.ResponseWriter, r *http.Request) {
	id, item := r.PathValue("id"), r.PathValue("item_id")
	uid := principal(r).ID
	if err := s.store.DeleteMessage(r.Context(), uid, id, item); err != nil {
		writeError(w, r, notFoundAs(err, "item_not_found", "item %q not found in conversation %q", item, id))
		return
	}
	c, err := s.store.GetConversation(r.Context(), uid, id)
	if err != nil {
		writeError(w, r, notFoundAs(err, "conversation_not_found", "conversation %q not found", id))
		return
	}
	writeJSON(w, http.StatusOK, toConversationJSON(c))
}
