package store

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// CountPasswordChecks makes db count its bcrypt comparisons, for tests that must
// show a cost without timing it.
func CountPasswordChecks(db *DB) *atomic.Int64 {
	var n atomic.Int64
	db.passwords.compared = func() { n.Add(1) }
	return &n
}

// Loads is how many times c has read an event from PostgreSQL.
func (c *EventCache) Loads() int64 { return c.loads.Load() }

// Lazily is DB.lazily, for tests.
func Lazily(ctx context.Context, db *DB, queue func(b *pgx.Batch)) error {
	return db.lazily(ctx, queue)
}

// InTx is DB.inTx, for tests.
func InTx(ctx context.Context, db *DB, first func(b *pgx.Batch), then func() (*pgx.Batch, error)) error {
	return db.inTx(ctx, first, then)
}
