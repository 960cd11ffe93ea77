package store

import (
	"context"
)

const modelCols = "id, provider, served_name, display_name, capabilities, created"

// UpsertModels inserts each model or, if its id exists, updates it. A zero
// Created keeps the stored creation time (or is now, for a new model), so
// re-registering models at every start does not make them look new.
func (s *sqlStore) UpsertModels(ctx context.Context, models []Model) error {
	if len(models) == 0 {
		return nil
	}
	now := s.timestamp()
	return s.inTxKeeps(ctx, "upsert models", func(ctx context.Context, tx queryer) error {
		for _, m := range models {
			caps := m.Capabilities
			if caps == nil {
				caps = []string{}
			}
			capsJSON, err := jsonArg(&caps)
			if err != nil {
				return err
			}
			created, keepCreated := m.Created, m.Created.IsZero()
			if keepCreated {
				created = now
			}
			if _, err := s.exec(ctx, tx,
				`INSERT INTO models (`+modelCols+`) VALUES (?, ?, ?, ?, ?, ?)
				 ON CONFLICT (id) DO UPDATE SET
				   provider = excluded.provider,
				   served_name = excluded.served_name,
				   display_name = excluded.display_name,
				   capabilities = excluded.capabilities,
				   created = CASE WHEN ? THEN models.created ELSE excluded.created END`,
				m.ID, m.Provider, m.ServedName, m.DisplayName, capsJSON, s.d.timeArg(created), keepCreated,
			); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListModels returns every stored model, ordered by id.
func (s *sqlStore) ListModels(ctx context.Context) ([]Model, error) {
	rows, err := s.query(ctx, s.read, "SELECT "+modelCols+" FROM models ORDER BY id")
	if err != nil {
		return nil, s.fail("list models", err)
	}
	list, err := collect(rows, func(m *Model) []any {
		return []any{&m.ID, &m.Provider, &m.ServedName, &m.DisplayName, jsonCol{&m.Capabilities}, timeCol{&m.Created}}
	}, nil)
	return list, s.fail("list models", err)
}
