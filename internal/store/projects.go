package store

import (
	"context"
	"errors"
	"strings"
)

const projectCols = "id, user_id, name, instruction, is_favorite, archived_at, created_at, updated_at"

func projectTargets(p *Project) []any {
	return []any{&p.ID, &p.UserID, &p.Name, &p.Instruction, &p.IsFavorite, nullTimeCol{&p.ArchivedAt},
		timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt}}
}

func projectSize(p *Project) int { return 200 + len(p.Name) + len(p.Instruction) }

func scanProject(r rowScanner) (*Project, error) {
	var p Project
	if err := r.Scan(projectTargets(&p)...); err != nil {
		return nil, err
	}
	return &p, nil
}

func (s *sqlStore) CreateProject(ctx context.Context, p *Project) error {
	const op = "create project"
	if p.UserID == "" {
		return s.fail(op, errors.New("project has no user"))
	}
	if p.ID == "" {
		p.ID = NewID(PrefixProject)
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = s.timestamp()
	}
	p.UpdatedAt = p.CreatedAt
	return s.inTx(ctx, op, func(ctx context.Context, tx queryer) error {
		if err := s.serializeOwner(ctx, tx, p.UserID); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, "INSERT INTO projects ("+projectCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			p.ID, p.UserID, p.Name, p.Instruction, p.IsFavorite, s.d.nullTimeArg(p.ArchivedAt),
			s.d.timeArg(p.CreatedAt), s.d.timeArg(p.UpdatedAt))
		return err
	})
}

func (s *sqlStore) GetProject(ctx context.Context, userID, id string) (*Project, error) {
	p, err := scanProject(s.queryRow(ctx, s.read, "SELECT "+projectCols+" FROM projects WHERE id = ? AND user_id = ?", id, userID))
	return p, s.fail("get project", err)
}

// ListProjects lists the user's projects, newest first unless p.Order is
// "asc".
func (s *sqlStore) ListProjects(ctx context.Context, userID string, p Page) ([]Project, bool, error) {
	const op = "list projects"
	w, err := s.newWindow(ctx, p, PrefixProject, OrderDesc, "SELECT seq FROM projects WHERE id = ? AND user_id = ?", userID)
	if err != nil {
		return nil, false, s.fail(op, err)
	}
	rows, err := s.query(ctx, s.read, "SELECT "+projectCols+" FROM projects WHERE user_id = ?"+w.clause(),
		append([]any{userID}, w.clauseArgs()...)...)
	if err != nil {
		return nil, false, s.fail(op, err)
	}
	list, more, err := collectPage(rows, w, p.MaxBytes, projectTargets, nil, projectSize)
	return list, more, s.fail(op, err)
}

// UpdateProject changes the fields u sets and bumps UpdatedAt; archiving
// sets ArchivedAt (now), unarchiving clears it.
func (s *sqlStore) UpdateProject(ctx context.Context, userID, id string, u ProjectUpdate) (*Project, error) {
	const op = "update project"
	now := s.timestamp()
	sets := []string{"updated_at = ?"}
	args := []any{s.d.timeArg(now)}
	if u.Name != nil {
		sets, args = append(sets, "name = ?"), append(args, *u.Name)
	}
	if u.Instruction != nil {
		sets, args = append(sets, "instruction = ?"), append(args, *u.Instruction)
	}
	if u.IsFavorite != nil {
		sets, args = append(sets, "is_favorite = ?"), append(args, *u.IsFavorite)
	}
	if u.IsArchived != nil {
		if *u.IsArchived {
			// Archiving again keeps the first time.
			sets, args = append(sets, "archived_at = COALESCE(archived_at, ?)"), append(args, s.d.timeArg(now))
		} else {
			sets = append(sets, "archived_at = NULL")
		}
	}
	var p *Project
	err := s.write1(ctx, op, func(ctx context.Context, q queryer) (err error) {
		p, err = scanProject(s.queryRow(ctx, q,
			"UPDATE projects SET "+strings.Join(sets, ", ")+" WHERE id = ? AND user_id = ? RETURNING "+projectCols,
			append(args, id, userID)...))
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// DeleteProject deletes the project and takes its conversations out of
// it, in one transaction.
func (s *sqlStore) DeleteProject(ctx context.Context, userID, id string) error {
	return s.inTx(ctx, "delete project", func(ctx context.Context, tx queryer) error {
		if err := s.execOne(ctx, tx, "DELETE FROM projects WHERE id = ? AND user_id = ?", id, userID); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, "UPDATE conversations SET project_id = '' WHERE user_id = ? AND project_id = ?", userID, id)
		return err
	})
}
