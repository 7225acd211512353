package store

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// EventCache keeps events for a short while, so that a crowd asking about one
// event (joining, polling its place, reserving) costs PostgreSQL one read per
// event per TTL per replica. Concurrent misses share that one read: when the
// entry runs out under a crowd, one request reads and the others wait for it,
// instead of each counting the event's tickets at once.
type EventCache struct {
	db    *DB
	ttl   time.Duration
	reads singleflight.Group
	loads atomic.Int64 // reads from PostgreSQL, for tests

	mu      sync.Mutex
	entries map[string]cachedEvent
	forgot  map[string]uint64 // per event, how often Forget dropped it
}

type cachedEvent struct {
	ev *Event
	at time.Time
}

// maxCachedEvents bounds the cache against a flood of made-up ids, which
// would each take an entry: past it the cache starts again empty.
const maxCachedEvents = 10_000

// eventReadTimeout bounds the read that every waiting caller shares.
const eventReadTimeout = 5 * time.Second

// NewEventCache caches db's events for ttl.
func NewEventCache(db *DB, ttl time.Duration) *EventCache {
	return &EventCache{db: db, ttl: ttl, entries: map[string]cachedEvent{}, forgot: map[string]uint64{}}
}

// Event is the event at most ttl old, as DB.Event answers it.
func (c *EventCache) Event(ctx context.Context, id string) (*Event, error) {
	c.mu.Lock()
	hit, ok := c.entries[id]
	c.mu.Unlock()
	if ok && c.db.now().Sub(hit.at) < c.ttl {
		return hit.ev, nil
	}
	ch := c.reads.DoChan(id, func() (any, error) {
		// Not the first caller's context: the others must not see its
		// cancellation. Bounded all the same, for a database that hangs.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), eventReadTimeout)
		defer cancel()
		c.loads.Add(1)
		c.mu.Lock()
		gen := c.forgot[id]
		c.mu.Unlock()
		ev, err := c.db.Event(rctx, id)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if len(c.entries) >= maxCachedEvents {
			c.entries = map[string]cachedEvent{}
		}
		if c.forgot[id] == gen { // else it may be from before the change: not kept
			c.entries[id] = cachedEvent{ev: ev, at: c.db.now()}
		}
		c.mu.Unlock()
		return ev, nil
	})
	select {
	case <-ctx.Done():
		return nil, marked(ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Event), nil
	}
}

// Forget drops the event, so that this replica's next read of it is fresh:
// after a change made here (other replicas see it within their ttl). A read
// under way may have begun before the change: later callers do not join it,
// and what it reads is not kept.
func (c *EventCache) Forget(id string) {
	c.mu.Lock()
	delete(c.entries, id)
	c.forgot[id]++
	c.mu.Unlock()
	c.reads.Forget(id)
}
