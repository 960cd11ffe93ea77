// Package migrations holds jan's database schema as versioned SQL files, one
// directory per dialect (sqlite/, postgres/), embedded into the binary.
//
// Files are named NNNN_name.sql; NNNN is the version, applied in ascending
// order, each exactly once. A released file is never edited: a schema change is
// a new file with the next number, written for both dialects. This package only
// carries the files; internal/store applies them (see store.Open).
package migrations

import "embed"

// FS holds sqlite/*.sql and postgres/*.sql.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS
