package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Callers of a group each get their own answer, those who come while a batch
// runs go together in the next one (at most max), and a batch that panics is
// an error for its callers only: the group goes on serving.
func TestGroupBatchesCallersTogether(t *testing.T) {
	t.Parallel()
	var (
		batches, largest atomic.Int64
		panicNext        atomic.Bool
	)
	g := group[int, int]{max: 8, run: func(_ context.Context, items []int) ([]int, error) {
		batches.Add(1)
		if int64(len(items)) > largest.Load() {
			largest.Store(int64(len(items)))
		}
		if panicNext.CompareAndSwap(true, false) {
			panic("broken")
		}
		time.Sleep(2 * time.Millisecond) // the database's round trip
		out := make([]int, len(items))
		for i, v := range items {
			out[i] = v * 10
		}
		return out, nil
	}}
	call := func(n int) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				got, err := g.do(context.Background(), i)
				if assert.NoError(t, err) {
					assert.Equal(t, i*10, got)
				}
			})
		}
		wg.Wait()
	}
	call(200)
	require.Less(t, batches.Load(), int64(200), "callers shared batches")
	require.LessOrEqual(t, largest.Load(), int64(8), "no batch over max")

	panicNext.Store(true)
	_, err := g.do(context.Background(), 1)
	require.ErrorContains(t, err, "broken")
	call(50) // and it serves on
}
