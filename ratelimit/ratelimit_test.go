package ratelimit_test

import (
	"context"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/ratelimit"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// newLimiter is a limiter under a prefix of its own, whose keys go at the end.
func newLimiter(t *testing.T) (*ratelimit.Limiter, redis.UniversalClient, string) {
	t.Helper()
	rdb := storetest.Redis(t)
	prefix := store.NewID("rltest")
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	return ratelimit.New(rdb, prefix), rdb, prefix
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give    string
		want    ratelimit.Rate
		wantErr bool
	}{
		{give: "300/1m", want: ratelimit.Rate{Count: 300, Per: time.Minute}},
		{give: " 10/10m ", want: ratelimit.Rate{Count: 10, Per: 10 * time.Minute}},
		{give: "off", want: ratelimit.Rate{}},
		{give: "0/1m", wantErr: true},
		{give: "10", wantErr: true},
		{give: "ten/1m", wantErr: true},
		{give: "10/soon", wantErr: true},
		{give: "1000/1ms", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ratelimit.ParseRate(tt.give)
		if tt.wantErr {
			require.Error(t, err, tt.give)
			continue
		}
		require.NoError(t, err, tt.give)
		require.Equal(t, tt.want, got, tt.give)
		again, err := ratelimit.ParseRate(got.String())
		require.NoError(t, err)
		require.Equal(t, got, again, "String reads back: %s", got)
	}
	require.Equal(t, "10/10m", ratelimit.Rate{Count: 10, Per: 10 * time.Minute}.String())
	require.Equal(t, "5/1h", ratelimit.Rate{Count: 5, Per: time.Hour}.String())
}

// A bucket of Count lets Count through at once, then one per Per/Count; each
// subject has its own bucket, and two limiters (two replicas) share it.
func TestAllow(t *testing.T) {
	t.Parallel()
	l, rdb, prefix := newLimiter(t)
	other := ratelimit.New(rdb, prefix) // another replica
	ctx := context.Background()
	r := ratelimit.Rate{Count: 3, Per: 3 * time.Second}
	for i := range 3 {
		lim := l
		if i == 1 {
			lim = other
		}
		wait, err := lim.Allow(ctx, "signin", r, "192.0.2.1")
		require.NoError(t, err)
		require.Zero(t, wait, "request %d", i+1)
	}
	wait, err := other.Allow(ctx, "signin", r, "192.0.2.1")
	require.NoError(t, err)
	require.Greater(t, wait, time.Duration(0))
	require.LessOrEqual(t, wait, time.Second)

	wait, err = l.Allow(ctx, "signin", r, "192.0.2.2")
	require.NoError(t, err)
	require.Zero(t, wait, "another address has its own bucket")
	wait, err = l.Allow(ctx, "signup", r, "192.0.2.1")
	require.NoError(t, err)
	require.Zero(t, wait, "another limit has its own bucket")

	wait, err = l.Allow(ctx, "signin", ratelimit.Rate{}, "192.0.2.1")
	require.NoError(t, err)
	require.Zero(t, wait, "the zero Rate limits nothing")

	require.Eventually(t, func() bool {
		wait, err := l.Allow(ctx, "signin", r, "192.0.2.1")
		return err == nil && wait == 0
	}, 3*time.Second, 50*time.Millisecond, "the bucket refills")
}

// However many ask at once, exactly Count get through.
func TestAllowRace(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			wait, err := l.Allow(context.Background(), "join", ratelimit.Rate{Count: 10, Per: time.Hour}, "192.0.2.9")
			if err == nil && wait == 0 {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	require.Equal(t, int64(10), allowed.Load())
}

// Failures are free up to Free, then lock the account for First, doubling;
// a success forgets them. Accounts are named by email, whatever its case.
func TestBackoff(t *testing.T) {
	t.Parallel()
	l, rdb, prefix := newLimiter(t)
	ctx := context.Background()
	b := ratelimit.Backoff{Free: 3, First: time.Second, Longest: 4 * time.Second, Forget: time.Hour}
	var locks []time.Duration
	for range 6 {
		lock, err := l.Failed(ctx, b, "Ann@Example.com")
		require.NoError(t, err)
		locks = append(locks, lock)
	}
	require.Equal(t, []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}, locks)

	left, err := l.Locked(ctx, " ann@example.COM")
	require.NoError(t, err)
	require.Greater(t, left, 3*time.Second)
	require.LessOrEqual(t, left, 4*time.Second)
	left, err = l.Locked(ctx, "bob@example.com")
	require.NoError(t, err)
	require.Zero(t, left)

	require.NoError(t, l.Succeeded(ctx, "ann@example.com"))
	left, err = l.Locked(ctx, "ann@example.com")
	require.NoError(t, err)
	require.Zero(t, left)
	lock, err := l.Failed(ctx, b, "ann@example.com")
	require.NoError(t, err)
	require.Zero(t, lock, "a success starts the count again")

	// Every key is one hash tag (so each script runs on any Redis Cluster node),
	// and no email is stored.
	var keys []string
	iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	require.NoError(t, iter.Err())
	require.NotEmpty(t, keys)
	for _, k := range keys {
		require.Regexp(t, "^"+regexp.QuoteMeta(prefix)+`:\{[a-z]+:[^{}]+\}$`, k)
		require.NotContains(t, k, "example")
	}
}
