package store

import "sync/atomic"

// CountPasswordChecks makes db count its bcrypt comparisons, for tests that must
// show a cost without timing it.
func CountPasswordChecks(db *DB) *atomic.Int64 {
	var n atomic.Int64
	db.passwords.compared = func() { n.Add(1) }
	return &n
}

// Loads is how many times c has read an event from PostgreSQL.
func (c *EventCache) Loads() int64 { return c.loads.Load() }
