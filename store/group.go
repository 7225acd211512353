package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// group runs many callers' requests of one kind as one statement: while a
// batch is at the database, the requests that arrive gather, and the next
// batch takes them all (at most max). A caller alone goes at once and waits no
// longer than it would have; under load, many requests share one round trip.
// Every caller is answered only once its batch has ended, so nothing is
// acknowledged before it is written.
type group[T, R any] struct {
	max int
	run func(ctx context.Context, items []T) ([]R, error)

	mu      sync.Mutex
	pending []*groupCall[T, R]
	busy    bool // a leader is running batches
}

type groupCall[T, R any] struct {
	item T
	res  R
	err  error
	lead bool // woken to run the next batch, not with an answer
	done chan struct{}
}

// groupMax bounds a batch: a statement with a few hundred rows is still quick,
// and the requests behind it are not kept waiting for a giant one.
const groupMax = 256

// groupTimeout bounds a batch: it runs apart from the request that happens to
// lead it, whose client may give up while others wait on the same batch.
const groupTimeout = 15 * time.Second

func (g *group[T, R]) do(ctx context.Context, item T) (R, error) {
	c := &groupCall[T, R]{item: item, done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	if g.busy {
		g.mu.Unlock()
		<-c.done
		if !c.lead {
			return c.res, c.err
		}
	} else {
		g.busy = true
		g.mu.Unlock()
	}
	// c leads: it is the first pending call, so the batch it runs answers it.
	g.mu.Lock()
	batch := g.pending[:min(len(g.pending), g.max)]
	g.pending = g.pending[len(batch):]
	g.mu.Unlock()
	items := make([]T, len(batch))
	for i, b := range batch {
		items[i] = b.item
	}
	res, err := g.runBatch(ctx, items)
	for i, b := range batch {
		if b.err = err; err == nil {
			b.res = res[i]
		}
		if b != c {
			close(b.done)
		}
	}
	// Hand the lead to the first caller that came meanwhile.
	g.mu.Lock()
	if len(g.pending) == 0 {
		g.busy = false
		g.mu.Unlock()
	} else {
		next := g.pending[0]
		g.mu.Unlock()
		next.lead = true
		close(next.done)
	}
	return c.res, c.err
}

// runBatch runs one batch, its panic an error for every caller in it: a leader
// that never handed over would stall every later request of the kind.
func (g *group[T, R]) runBatch(ctx context.Context, items []T) (res []R, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("batch of %d: %v", len(items), p)
		}
	}()
	if res, err = g.run(ctx, items); err == nil && len(res) != len(items) {
		err = fmt.Errorf("batch of %d answered %d", len(items), len(res))
	}
	return res, err
}
