// Package migrations holds the PostgreSQL schema as numbered golang-migrate files,
// embedded so the binary migrates itself.
package migrations

import "embed"

// FS holds every migration, applied in order by store.Migrate.
//
//go:embed *.sql
var FS embed.FS
