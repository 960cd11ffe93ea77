package storetest

import (
	"testing"

	"github.com/janhq/jan/internal/store"
)

func projID(p store.Project) string { return p.ID }

// testProjects: create, read, list, update, archive, delete; names unique
// per user; another user's project is not found.
func testProjects(t *testing.T, st store.Store) {
	c := ctx(t)
	user, other := store.NewID(store.PrefixUser), store.NewID(store.PrefixUser)
	p := &store.Project{UserID: user, Name: "Research", Instruction: "answer in French"}
	must(t, st.CreateProject(c, p))
	wantPrefix(t, "project id", p.ID, store.PrefixProject)
	fresh(t, "CreatedAt", p.CreatedAt)
	sameTime(t, "UpdatedAt of a new project", p.UpdatedAt, p.CreatedAt)

	got, err := st.GetProject(c, user, p.ID)
	must(t, err)
	sameTime(t, "CreatedAt", got.CreatedAt, p.CreatedAt)
	got.CreatedAt, got.UpdatedAt = p.CreatedAt, p.UpdatedAt
	equal(t, "GetProject", got, p)

	wantErr(t, "a second project with the same name",
		st.CreateProject(c, &store.Project{UserID: user, Name: "Research"}), store.ErrConflict)
	// Another user may use the name; it is theirs alone.
	theirs := &store.Project{UserID: other, Name: "Research"}
	must(t, st.CreateProject(c, theirs))
	_, err = st.GetProject(c, user, theirs.ID)
	wantErr(t, "another user's project", err, store.ErrNotFound)
	_, err = st.UpdateProject(c, user, theirs.ID, store.ProjectUpdate{Name: new("mine")})
	wantErr(t, "updating another user's project", err, store.ErrNotFound)
	wantErr(t, "deleting another user's project", st.DeleteProject(c, user, theirs.ID), store.ErrNotFound)

	second := &store.Project{UserID: user, Name: "Travel"}
	must(t, st.CreateProject(c, second))
	list, more, err := st.ListProjects(c, user, store.Page{Limit: 1})
	must(t, err)
	equal(t, "first page, newest first", ids(list, projID), []string{second.ID})
	if !more {
		t.Error("first page of two projects: has_more false")
	}
	list, more, err = st.ListProjects(c, user, store.Page{Limit: 10, After: second.ID})
	must(t, err)
	equal(t, "second page", ids(list, projID), []string{p.ID})
	if more {
		t.Error("last page: has_more true")
	}
	_, _, err = st.ListProjects(c, user, store.Page{Limit: 10, After: theirs.ID})
	wantErr(t, "a cursor of another user's project", err, store.ErrBadCursor)

	// Update: only the fields set change; renaming onto a taken name conflicts.
	_, err = st.UpdateProject(c, user, second.ID, store.ProjectUpdate{Name: new("Research")})
	wantErr(t, "renaming onto a taken name", err, store.ErrConflict)
	up, err := st.UpdateProject(c, user, p.ID, store.ProjectUpdate{Instruction: new("be brief"), IsFavorite: new(true)})
	must(t, err)
	if up.Name != "Research" || up.Instruction != "be brief" || !up.IsFavorite || up.ArchivedAt != nil || up.UpdatedAt.Before(p.UpdatedAt) {
		t.Errorf("after update: %+v", up)
	}
	up, err = st.UpdateProject(c, user, p.ID, store.ProjectUpdate{IsArchived: new(true)})
	must(t, err)
	if up.ArchivedAt == nil {
		t.Fatal("archived project has no ArchivedAt")
	}
	fresh(t, "ArchivedAt", *up.ArchivedAt)
	first := *up.ArchivedAt
	up, err = st.UpdateProject(c, user, p.ID, store.ProjectUpdate{IsArchived: new(true)})
	must(t, err)
	sameTime(t, "ArchivedAt after archiving again", *up.ArchivedAt, first)
	up, err = st.UpdateProject(c, user, p.ID, store.ProjectUpdate{IsArchived: new(false)})
	must(t, err)
	if up.ArchivedAt != nil {
		t.Errorf("unarchived project keeps ArchivedAt %v", up.ArchivedAt)
	}

	// Conversations in projects: filter, count, and delete leaves them.
	in1 := &store.Conversation{UserID: user, ProjectID: p.ID}
	must(t, st.CreateConversation(c, in1, nil))
	out := &store.Conversation{UserID: user}
	must(t, st.CreateConversation(c, out, nil))
	in2 := &store.Conversation{UserID: user}
	must(t, st.CreateConversation(c, in2, nil))
	moved, err := st.UpdateConversation(c, user, in2.ID, store.ConversationUpdate{ProjectID: &p.ID})
	must(t, err)
	if moved.ProjectID != p.ID {
		t.Errorf("moved conversation's project = %q", moved.ProjectID)
	}
	inP := store.ConversationFilter{ProjectID: p.ID}
	convs, more, err := st.ListConversations(c, user, inP, store.Page{Limit: 1})
	must(t, err)
	equal(t, "the project's first page", ids(convs, convID), []string{in2.ID})
	if !more {
		t.Error("the project's first page: has_more false")
	}
	convs, _, err = st.ListConversations(c, user, inP, store.Page{Limit: 10, After: in2.ID})
	must(t, err)
	equal(t, "the project's second page", ids(convs, convID), []string{in1.ID})
	for f, want := range map[store.ConversationFilter]int{inP: 2, {}: 3, {ProjectID: second.ID}: 0} {
		n, err := st.CountConversations(c, user, f)
		must(t, err)
		if n != want {
			t.Errorf("CountConversations(%+v) = %d, want %d", f, n, want)
		}
	}
	if n, err := st.CountConversations(c, other, store.ConversationFilter{}); err != nil || n != 0 {
		t.Errorf("another user's count = %d, %v", n, err)
	}

	must(t, st.DeleteProject(c, user, p.ID))
	_, err = st.GetProject(c, user, p.ID)
	wantErr(t, "a deleted project", err, store.ErrNotFound)
	wantErr(t, "deleting it again", st.DeleteProject(c, user, p.ID), store.ErrNotFound)
	for _, id := range []string{in1.ID, in2.ID} {
		conv, err := st.GetConversation(c, user, id)
		must(t, err)
		if conv.ProjectID != "" {
			t.Errorf("conversation %s still in the deleted project", id)
		}
	}
	// The name is free again.
	must(t, st.CreateProject(c, &store.Project{UserID: user, Name: "Research"}))
}
