package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// A crowd that misses the cache at once costs one read, and a change shows
// once the entry is older than the TTL.
func TestEventCacheSharesOneRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.DB(t)
	ev := storetest.Event(t, db, storetest.Organizer(t, db).ID, 5)
	now := time.Now()
	var mu sync.Mutex
	db.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cache := store.NewEventCache(db, time.Second)

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			got, err := cache.Event(ctx, ev.ID)
			if err == nil && got.ID != ev.ID {
				err = context.Canceled // any error: the wrong event came back
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int64(1), cache.Loads(), "64 concurrent misses")

	rate := ev.AdmissionRate + 7
	_, err := db.UpdateEvent(ctx, ev.ID, store.Settings{AdmissionRate: &rate})
	require.NoError(t, err)
	got, err := cache.Event(ctx, ev.ID)
	require.NoError(t, err)
	require.Equal(t, ev.AdmissionRate, got.AdmissionRate, "within the TTL the cached event is answered")

	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	got, err = cache.Event(ctx, ev.ID)
	require.NoError(t, err)
	require.Equal(t, rate, got.AdmissionRate, "after the TTL the change shows")
	require.Equal(t, int64(2), cache.Loads())

	rate++
	_, err = db.UpdateEvent(ctx, ev.ID, store.Settings{AdmissionRate: &rate})
	require.NoError(t, err)
	cache.Forget(ev.ID)
	got, err = cache.Event(ctx, ev.ID)
	require.NoError(t, err)
	require.Equal(t, rate, got.AdmissionRate, "forgotten, the event is read fresh within the TTL")
	require.Equal(t, int64(3), cache.Loads())
}

// The first caller giving up does not fail the others waiting on its read.
func TestEventCacheOutlivesACancelledCaller(t *testing.T) {
	t.Parallel()
	db := storetest.DB(t)
	ev := storetest.Event(t, db, storetest.Organizer(t, db).ID, 5)
	cache := store.NewEventCache(db, time.Minute)

	gone, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := cache.Event(gone, ev.ID)
	require.ErrorIs(t, err, context.Canceled)
	got, err := cache.Event(context.Background(), ev.ID)
	require.NoError(t, err)
	require.Equal(t, ev.ID, got.ID)

	_, err = cache.Event(context.Background(), "no-such-event")
	require.ErrorIs(t, err, store.ErrNotFound)
}
