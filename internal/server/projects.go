package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/janhq/jan/internal/store"
)

// maxInstruction is the longest project instruction, in characters: it is
// sent with every turn of the project's conversations.
const maxInstruction = 32 << 10

// projectJSON is a project as the API shows it (jan-server's shape).
type projectJSON struct {
	ID          string `json:"id"`
	Object      string `json:"object"`
	Name        string `json:"name"`
	Instruction string `json:"instruction"`
	IsFavorite  bool   `json:"is_favorite"`
	IsArchived  bool   `json:"is_archived"`
	ArchivedAt  *int64 `json:"archived_at"`
	CreatedAt   int64  `json:"created_at"`
	UpdatedAt   int64  `json:"updated_at"`
}

func toProjectJSON(p *store.Project) projectJSON {
	j := projectJSON{ID: p.ID, Object: "project", Name: p.Name, Instruction: p.Instruction, IsFavorite: p.IsFavorite,
		IsArchived: p.ArchivedAt != nil, CreatedAt: p.CreatedAt.Unix(), UpdatedAt: p.UpdatedAt.Unix()}
	if p.ArchivedAt != nil {
		at := p.ArchivedAt.Unix()
		j.ArchivedAt = &at
	}
	return j
}

// projectFields are the writable fields of a project, as create and
// update read them (create ignores is_archived: a new project is not).
type projectFields struct {
	Name        *string `json:"name"`
	Instruction *string `json:"instruction"`
	IsFavorite  *bool   `json:"is_favorite"`
	IsArchived  *bool   `json:"is_archived"`
}

func (f *projectFields) validate() error {
	if f.Name != nil {
		name := strings.TrimSpace(*f.Name)
		if err := checkText("name", name); err != nil {
			return err
		}
		if name == "" {
			return errInvalid("name", "missing_field", "name must not be empty")
		}
		if n := utf8.RuneCountInString(name); n > maxTitle {
			return errInvalid("name", "name_too_long", "name may be at most %d characters, got %d", maxTitle, n)
		}
		f.Name = &name
	}
	if f.Instruction != nil {
		if err := checkText("instruction", *f.Instruction); err != nil {
			return err
		}
		if n := utf8.RuneCountInString(*f.Instruction); n > maxInstruction {
			return errInvalid("instruction", "instruction_too_long", "instruction may be at most %d characters, got %d", maxInstruction, n)
		}
	}
	return nil
}

// projectError names what a store error on project id means to the client.
func projectError(err error, id string) error {
	if errors.Is(err, store.ErrConflict) {
		return &apiError{Status: http.StatusConflict, Type: "invalid_request_error", Code: "project_name_taken", Param: "name",
			Message: "you already have a project with this name"}
	}
	return notFoundAs(err, "project_not_found", "project %q not found", id)
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request) {
	var req projectFields
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if req.Name == nil {
		writeError(w, r, errInvalid("name", "missing_field", "name is required"))
		return
	}
	if err := req.validate(); err != nil {
		writeError(w, r, err)
		return
	}
	p := &store.Project{UserID: principal(r).ID, Name: *req.Name}
	if req.Instruction != nil {
		p.Instruction = *req.Instruction
	}
	if req.IsFavorite != nil {
		p.IsFavorite = *req.IsFavorite
	}
	markExecuted(w)
	if err := s.store.CreateProject(r.Context(), p); err != nil {
		writeError(w, r, projectError(err, ""))
		return
	}
	writeJSON(w, http.StatusCreated, toProjectJSON(p))
}

// projectList is a page of projects; jan-server's clients read next_cursor.
type projectList struct {
	listBody[projectJSON]
	NextCursor *string `json:"next_cursor"`
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) {
	p, err := s.page(r, "desc")
	if err != nil {
		writeError(w, r, err)
		return
	}
	list, more, err := s.store.ListProjects(r.Context(), principal(r).ID, p)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]projectJSON, len(list))
	for i := range list {
		out[i] = toProjectJSON(&list[i])
	}
	first, last := firstLast(list, func(p store.Project) string { return p.ID })
	page := newList(out, more, first, last)
	writeJSON(w, http.StatusOK, projectList{listBody: page, NextCursor: page.NextAfter})
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p, err := s.store.GetProject(r.Context(), principal(r).ID, id)
	if err != nil {
		writeError(w, r, projectError(err, id))
		return
	}
	writeJSON(w, http.StatusOK, toProjectJSON(p))
}

func (s *Server) updateProject(w http.ResponseWriter, r *http.Request) {
	var req projectFields
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := req.validate(); err != nil {
		writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	p, err := s.store.UpdateProject(r.Context(), principal(r).ID, id, store.ProjectUpdate{
		Name: req.Name, Instruction: req.Instruction, IsFavorite: req.IsFavorite, IsArchived: req.IsArchived})
	if err != nil {
		writeError(w, r, projectError(err, id))
		return
	}
	writeJSON(w, http.StatusOK, toProjectJSON(p))
}

func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.store.DeleteProject(r.Context(), principal(r).ID, id); err != nil {
		writeError(w, r, projectError(err, id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "project", "deleted": true})
}

// projectParam reads a project_id a conversation is given: a string or
// null; "" and null take it out of its project. The project must be the
// caller's (404 otherwise). ok is false when raw is absent.
func (s *Server) projectParam(ctx context.Context, uid string, raw json.RawMessage) (id string, ok bool, err error) {
	if raw == nil {
		return "", false, nil
	}
	if string(raw) == "null" {
		return "", true, nil
	}
	if err := json.Unmarshal(raw, &id); err != nil {
		return "", false, errInvalid("project_id", "invalid_type", "project_id: expected a string or null")
	}
	if id == "" {
		return "", true, nil
	}
	if err := checkText("project_id", id); err != nil {
		return "", false, err
	}
	if _, err := s.store.GetProject(ctx, uid, id); err != nil {
		err = notFoundAs(err, "project_not_found", "project %q not found", id)
		var ae *apiError
		if errors.As(err, &ae) {
			ae.Param = "project_id"
		}
		return "", false, err
	}
	return id, true, nil
}

// withInstruction puts the instruction of conv's project, if it has one,
// before history as a system message: every run, chat and response in a
// project's conversations starts with it. A project deleted meanwhile has
// none.
func (s *Server) withInstruction(ctx context.Context, conv *store.Conversation, history []store.Message) ([]store.Message, error) {
	in, err := s.instruction(ctx, conv)
	if in == nil || err != nil {
		return history, err
	}
	out := make([]store.Message, 0, len(history)+1)
	out = append(out, store.Message{Role: store.RoleSystem, Content: *in, Status: store.StatusCompleted})
	return append(out, history...), nil
}

// instruction is the instruction of conv's project (see withInstruction),
// or nil.
func (s *Server) instruction(ctx context.Context, conv *store.Conversation) (*string, error) {
	if conv.ProjectID == "" {
		return nil, nil
	}
	p, err := s.store.GetProject(ctx, conv.UserID, conv.ProjectID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil || p.Instruction == "" {
		return nil, err
	}
	return &p.Instruction, nil
}
