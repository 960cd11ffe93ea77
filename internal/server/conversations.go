package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/janhq/jan/internal/rawjson"
	"github.com/janhq/jan/internal/store"
)

// conversationJSON is a conversation as the API shows it.
type conversationJSON struct {
	ID        string            `json:"id"`
	Object    string            `json:"object"`
	UserID    string            `json:"user_id"`
	Title     string            `json:"title"`
	Metadata  map[string]string `json:"metadata"`
	Model     *string           `json:"model"`
	ProjectID *string           `json:"project_id"`
	CreatedAt int64             `json:"created_at"`
	UpdatedAt int64             `json:"updated_at"`
}

func toConversationJSON(c *store.Conversation) conversationJSON {
	j := conversationJSON{ID: c.ID, Object: "conversation", UserID: c.UserID, Title: c.Title, Metadata: c.Metadata,
		CreatedAt: c.CreatedAt.Unix(), UpdatedAt: c.UpdatedAt.Unix()}
	if j.Metadata == nil {
		j.Metadata = map[string]string{}
	}
	if c.Model != "" {
		j.Model = &c.Model
	}
	if c.ProjectID != "" {
		j.ProjectID = &c.ProjectID
	}
	return j
}

// messageJSON is a message in the seed's shape.
type messageJSON struct {
	ID             string       `json:"id"`
	Object         string       `json:"object"`
	ConversationID string       `json:"conversation_id"`
	Role           string       `json:"role"`
	Content        string       `json:"content"`
	Status         string       `json:"status"`
	Model          *string      `json:"model,omitempty"`
	RunID          *string      `json:"run_id,omitempty"`
	Usage          *store.Usage `json:"usage,omitempty"`
	CreatedAt      int64        `json:"created_at"`
}

func toMessageJSON(m *store.Message) messageJSON {
	j := messageJSON{ID: m.ID, Object: "message", ConversationID: m.ConversationID, Role: m.Role, Content: m.Content,
		Status: m.Status, Usage: m.Usage, CreatedAt: m.CreatedAt.Unix()}
	if m.Model != "" {
		j.Model = &m.Model
	}
	if m.RunID != "" {
		j.RunID = &m.RunID
	}
	return j
}

// validateMetadata enforces OpenAI's limits: ≤ 16 keys, keys ≤ 64 chars,
// values ≤ 512 chars.
func validateMetadata(m map[string]string) error {
	if len(m) > 16 {
		return errInvalid("metadata", "invalid_metadata", "metadata may have at most 16 keys, got %d", len(m))
	}
	for k, v := range m {
		if err := checkText("metadata", k+v); err != nil {
			return err
		}
		if utf8.RuneCountInString(k) > 64 {
			return errInvalid("metadata", "invalid_metadata", "metadata keys may be at most 64 characters: %.20q…", k)
		}
		if utf8.RuneCountInString(v) > 512 {
			return errInvalid("metadata", "invalid_metadata", "metadata value of %q is over 512 characters", k)
		}
	}
	return nil
}

var validRoles = map[string]bool{store.RoleUser: true, store.RoleAssistant: true, store.RoleSystem: true}

// contentText reads message content: a string, null, or an array of parts
// with text ({"type":"text"|"input_text"|"output_text","text":…}).
func contentText(raw json.RawMessage, param string) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	switch raw[0] {
	case '"':
		s, ok := rawjson.String(raw)
		if !ok {
			return "", errInvalid(param, "invalid_type", "%s: expected a string or an array of content parts", param)
		}
		return s, checkText(param, s)
	case '[':
		var parts []struct {
			Type string  `json:"type"`
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(raw, &parts); err != nil {
			return "", errInvalid(param, "invalid_type", "%s: expected an array of content parts with a type and text", param)
		}
		var b strings.Builder
		for i, p := range parts {
			switch p.Type {
			case "text", "input_text", "output_text":
				if p.Text == nil {
					return "", errInvalid(fmt.Sprintf("%s[%d].text", param, i), "missing_field", "%s[%d].text is required", param, i)
				}
				if err := checkText(fmt.Sprintf("%s[%d].text", param, i), *p.Text); err != nil {
					return "", err
				}
				b.WriteString(*p.Text)
			default:
				// Non-text parts (images, files) are kept by the engine request, not in jan's text history.
			}
		}
		return b.String(), nil
	}
	return "", errInvalid(param, "invalid_type", "%s: expected a string or an array of content parts", param)
}

// parseItems validates OpenAI conversation items (messages): at least min,
// at most 20, as OpenAI allows per request.
func parseItems(items []json.RawMessage, min int) ([]*store.Message, error) {
	if len(items) < min || len(items) > 20 {
		return nil, errInvalid("items", "invalid_items", "items must hold %d to 20 items, got %d", min, len(items))
	}
	msgs := make([]*store.Message, 0, len(items))
	for i, raw := range items {
		m, err := parseMessage(raw, fmt.Sprintf("items[%d]", i))
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// inputMessage is a message in a request: role and content.
type inputMessage struct {
	Type    string          `json:"type"`
	Role    json.RawMessage `json:"role"`
	Content json.RawMessage `json:"content"`
}

// parseMessage validates one {"role","content"} against the roles jan stores.
func parseMessage(raw json.RawMessage, param string) (*store.Message, error) {
	var in inputMessage
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errInvalid(param, "invalid_type", "%s: expected an object with role and content", param)
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, jsonError(err, param)
	}
	if in.Type != "" && in.Type != "message" {
		return nil, errInvalid(param+".type", "invalid_value", "%s.type: only \"message\" items are supported, got %q", param, in.Type)
	}
	var role string
	if len(in.Role) == 0 {
		return nil, errInvalid(param+".role", "missing_field", "%s.role is required", param)
	}
	if err := json.Unmarshal(in.Role, &role); err != nil {
		return nil, errInvalid(param+".role", "invalid_type", "%s.role: expected a string", param)
	}
	if !validRoles[role] {
		return nil, errInvalid(param+".role", "invalid_role", "%s.role: must be user, assistant or system, got %q", param, role)
	}
	text, err := contentText(in.Content, param+".content")
	if err != nil {
		return nil, err
	}
	return &store.Message{Role: role, Content: text, Status: store.StatusCompleted}, nil
}

func (s *Server) createConversation(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Title     *string           `json:"title"`
		Metadata  map[string]string `json:"metadata"`
		Items     []json.RawMessage `json:"items"`
		ProjectID json.RawMessage   `json:"project_id"`
	}
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := validateMetadata(req.Metadata); err != nil {
		writeError(w, r, err)
		return
	}
	msgs, err := parseItems(req.Items, 0)
	if err != nil {
		writeError(w, r, err)
		return
	}
	c := &store.Conversation{UserID: principal(r).ID, Metadata: req.Metadata}
	if c.ProjectID, _, err = s.projectParam(r.Context(), c.UserID, req.ProjectID); err != nil {
		writeError(w, r, err)
		return
	}
	if req.Title != nil {
		if err := checkTitle(*req.Title); err != nil {
			writeError(w, r, err)
			return
		}
		c.Title = *req.Title
	}
	markExecuted(w)
	if err := s.store.CreateConversation(r.Context(), c, msgs); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toConversationJSON(c))
}

// conversation loads the {id} conversation of the caller; 404 otherwise.
func (s *Server) conversation(r *http.Request) (*store.Conversation, error) {
	id := r.PathValue("id")
	c, err := s.store.GetConversation(r.Context(), principal(r).ID, id)
	if err != nil {
		return nil, notFoundAs(err, "conversation_not_found", "conversation %q not found", id)
	}
	return c, nil
}

// notFoundAs names what was not found; other errors pass through.
func notFoundAs(err error, code, format string, args ...any) error {
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound(code, format, args...)
	}
	return err
}

func (s *Server) listConversations(w http.ResponseWriter, r *http.Request) {
	p, err := s.page(r, "desc")
	if err != nil {
		writeError(w, r, err)
		return
	}
	uid, f := principal(r).ID, store.ConversationFilter{ProjectID: r.URL.Query().Get("project_id")}
	list, more, err := s.store.ListConversations(r.Context(), uid, f, p)
	if err != nil {
		writeError(w, r, err)
		return
	}
	total, err := s.store.CountConversations(r.Context(), uid, f)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]conversationJSON, len(list))
	for i := range list {
		out[i] = toConversationJSON(&list[i])
	}
	first, last := firstLast(list, func(c store.Conversation) string { return c.ID })
	writeJSON(w, http.StatusOK, conversationList{listBody: newList(out, more, first, last), Total: total})
}

// conversationList is a page of conversations with the caller's count of
// all that match (jan-server's clients show it).
type conversationList struct {
	listBody[conversationJSON]
	Total int `json:"total"`
}

func (s *Server) getConversation(w http.ResponseWriter, r *http.Request) {
	c, err := s.conversation(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toConversationJSON(c))
}

func (s *Server) updateConversation(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Title     *string            `json:"title"`
		Metadata  *map[string]string `json:"metadata"`
		ProjectID json.RawMessage    `json:"project_id"`
	}
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	uid := principal(r).ID
	u := store.ConversationUpdate{Title: req.Title}
	if project, set, err := s.projectParam(r.Context(), uid, req.ProjectID); err != nil {
		writeError(w, r, err)
		return
	} else if set {
		u.ProjectID = &project
	}
	if req.Title != nil {
		if err := checkTitle(*req.Title); err != nil {
			writeError(w, r, err)
			return
		}
	}
	if req.Metadata != nil {
		if err := validateMetadata(*req.Metadata); err != nil {
			writeError(w, r, err)
			return
		}
		u.Metadata = *req.Metadata
		if u.Metadata == nil {
			u.Metadata = map[string]string{}
		}
	}
	id := r.PathValue("id")
	c, err := s.store.UpdateConversation(r.Context(), uid, id, u)
	if err != nil {
		writeError(w, r, notFoundAs(err, "conversation_not_found", "conversation %q not found", id))
		return
	}
	writeJSON(w, http.StatusOK, toConversationJSON(c))
}

func (s *Server) deleteConversation(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.store.DeleteConversation(r.Context(), principal(r).ID, id); err != nil {
		writeError(w, r, notFoundAs(err, "conversation_not_found", "conversation %q not found", id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "conversation.deleted", "deleted": true})
}

func (s *Server) createMessage(w http.ResponseWriter, r *http.Request) {
	if err := decodeJSON(r, &struct{}{}); err != nil {
		writeError(w, r, err)
		return
	}
	m, err := parseMessage(body(r), "body")
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			ae.Param = strings.TrimPrefix(ae.Param, "body.")
			ae.Message = strings.TrimPrefix(ae.Message, "body.")
		}
		writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	markExecuted(w)
	if err := s.store.AppendMessages(r.Context(), principal(r).ID, id, []*store.Message{m}); err != nil {
		writeError(w, r, notFoundAs(err, "conversation_not_found", "conversation %q not found", id))
		return
	}
	writeJSON(w, http.StatusCreated, toMessageJSON(m))
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	s.writeMessages(w, r, "asc", func(m *store.Message) any { return toMessageJSON(m) })
}

// writeMessages lists the conversation's messages in the given default
// order, each shown by view (seed message or Conversations item).
func (s *Server) writeMessages(w http.ResponseWriter, r *http.Request, defaultOrder string, view func(*store.Message) any) {
	p, err := s.page(r, defaultOrder)
	if err != nil {
		writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	list, more, err := s.store.ListMessages(r.Context(), principal(r).ID, id, p)
	if err != nil {
		writeError(w, r, notFoundAs(err, "conversation_not_found", "conversation %q not found", id))
		return
	}
	out := make([]any, len(list))
	for i := range list {
		out[i] = view(&list[i])
	}
	first, last := firstLast(list, func(m store.Message) string { return m.ID })
	writeJSON(w, http.StatusOK, newList(out, more, first, last))
}
