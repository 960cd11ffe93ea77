package storetest

import (
	"testing"
	"time"

	"github.com/janhq/jan/internal/store"
)

func testModels(t *testing.T, st store.Store) {
	c := ctx(t)
	list, err := st.ListModels(c)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("a new store lists %d models", len(list))
	}
	must(t, st.UpsertModels(c, nil))

	created := time.Date(2024, 5, 1, 12, 0, 0, 123000, time.UTC)
	b := store.Model{ID: "b-model", Provider: "vllm", ServedName: "org/b", DisplayName: "B", Capabilities: []string{"chat", "tools"}, Created: created}
	a := store.Model{ID: "a-model", Provider: "ollama", ServedName: "a:7b", DisplayName: "A"} // no capabilities, no Created
	must(t, st.UpsertModels(c, []store.Model{b, a}))

	list, err = st.ListModels(c)
	must(t, err)
	if len(list) != 2 || list[0].ID != "a-model" || list[1].ID != "b-model" {
		t.Fatalf("ListModels = %+v, want a-model then b-model", list)
	}
	fresh(t, "Created defaulted", list[0].Created)
	aCreated := list[0].Created
	if list[0].Capabilities == nil || len(list[0].Capabilities) != 0 {
		t.Errorf("no capabilities read back as %#v, want an empty list", list[0].Capabilities)
	}
	sameTime(t, "Created", list[1].Created, created)
	list[1].Created = created
	equal(t, "model b", list[1], b)

	// Updating by id: fields change; a zero Created keeps the stored one.
	time.Sleep(2 * time.Millisecond)
	a.DisplayName, a.Capabilities = "A v2", []string{"chat"}
	b.Provider, b.Created = "remote", created.Add(time.Hour)
	must(t, st.UpsertModels(c, []store.Model{a, b}))
	list, err = st.ListModels(c)
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("after update: %d models, want 2", len(list))
	}
	if list[0].DisplayName != "A v2" || len(list[0].Capabilities) != 1 || list[0].Provider != "ollama" {
		t.Errorf("updated a-model = %+v", list[0])
	}
	sameTime(t, "a-model Created kept", list[0].Created, aCreated)
	if list[1].Provider != "remote" {
		t.Errorf("updated b-model = %+v", list[1])
	}
	sameTime(t, "b-model Created replaced", list[1].Created, b.Created)
}
