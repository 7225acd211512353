package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// A kept answer lives 24 hours: after that the key is new again, and the purge
// deletes it; younger answers stay.
func TestIdempotencyKeysExpire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.DB(t)
	scope := store.NewID("scope")
	for _, key := range []string{"old", "young"} {
		claim, err := db.ClaimIdempotencyKey(ctx, scope, key, []byte("hash"))
		require.NoError(t, err)
		require.True(t, claim.Owned)
		require.NoError(t, db.SaveIdempotentResponse(ctx, scope, key, store.StoredResponse{Status: 201, Body: []byte("{}")}))
	}
	_, err := db.Pool().Exec(ctx, `UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE scope = $1 AND key = 'old'`, scope)
	require.NoError(t, err)

	_, err = db.ClaimIdempotencyKey(ctx, scope, "young", []byte("other"))
	require.ErrorIs(t, err, store.ErrKeyReused)

	_, err = db.PurgeIdempotencyKeys(ctx)
	require.NoError(t, err)
	var left []string
	rows, err := db.Pool().Query(ctx, `SELECT key FROM idempotency_keys WHERE scope = $1`, scope)
	require.NoError(t, err)
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		left = append(left, k)
	}
	require.Equal(t, []string{"young"}, left)
}

// A key whose request still runs (it says so every heartbeat) stays its own,
// however long the request takes; one whose owner went silent (its replica
// died) is taken over within seconds, not minutes.
func TestIdempotencyKeyOfADeadOwnerIsTakenOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.DB(t)
	scope := store.NewID("scope")
	for _, key := range []string{"alive", "dead"} {
		claim, err := db.ClaimIdempotencyKey(ctx, scope, key, []byte("hash"))
		require.NoError(t, err)
		require.True(t, claim.Owned)
	}
	// Both started a minute ago; only "alive" has heartbeat since.
	_, err := db.Pool().Exec(ctx, `UPDATE idempotency_keys SET created_at = now() - interval '1 minute',
		heartbeat_at = now() - interval '1 minute' WHERE scope = $1`, scope)
	require.NoError(t, err)
	require.NoError(t, db.HeartbeatIdempotencyKey(ctx, scope, "alive"))

	_, err = db.ClaimIdempotencyKey(ctx, scope, "alive", []byte("hash"))
	require.ErrorIs(t, err, store.ErrKeyInFlight)
	claim, err := db.ClaimIdempotencyKey(ctx, scope, "dead", []byte("hash"))
	require.NoError(t, err)
	require.True(t, claim.Owned, "the retry now owns the key and runs")

	// Seven seconds of silence are enough.
	_, err = db.Pool().Exec(ctx, `UPDATE idempotency_keys SET heartbeat_at = now() - interval '7 seconds' WHERE scope = $1 AND key = 'alive'`, scope)
	require.NoError(t, err)
	claim, err = db.ClaimIdempotencyKey(ctx, scope, "alive", []byte("hash"))
	require.NoError(t, err)
	require.True(t, claim.Owned)
}

// An answer without a body (204 No Content, as signing out answers) is kept
// and replayed like any other.
func TestIdempotentAnswerWithoutABody(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.DB(t)
	scope := store.NewID("scope")
	claim, err := db.ClaimIdempotencyKey(ctx, scope, "k", []byte("hash"))
	require.NoError(t, err)
	require.True(t, claim.Owned)
	require.NoError(t, db.SaveIdempotentResponse(ctx, scope, "k", store.StoredResponse{Status: 204}))
	again, err := db.ClaimIdempotencyKey(ctx, scope, "k", []byte("hash"))
	require.NoError(t, err)
	require.NotNil(t, again.Stored)
	require.Equal(t, 204, again.Stored.Status)
	require.Empty(t, again.Stored.Body)
}

// Claims and saves that arrive together share statements, and sharing changes
// no answer: of many concurrent claims of each key (double clicks among them)
// exactly one owns it and the rest find it in flight or, once its answer is
// kept, replay that answer; and a key PostgreSQL cannot store is refused alone
// and fails no one else's claim.
func TestIdempotencyClaimsTogether(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.DB(t)
	scope := store.NewID("scope")
	const keys, clicks = 40, 5
	var (
		wg     sync.WaitGroup
		owners [keys]atomic.Int32
		bad    atomic.Int32
	)
	for k := range keys {
		for range clicks {
			wg.Go(func() {
				key := fmt.Sprintf("key-%d", k)
				claim, err := db.ClaimIdempotencyKey(ctx, scope, key, []byte("hash"))
				if errors.Is(err, store.ErrKeyInFlight) {
					return
				}
				if !assert.NoError(t, err) || !assert.True(t, claim.Owned, "a first answer is kept only after every claim") {
					return
				}
				owners[k].Add(1)
			})
		}
		wg.Go(func() {
			_, err := db.ClaimIdempotencyKey(ctx, scope, "bad\xff", []byte("hash"))
			if errors.Is(err, store.ErrBadText) {
				bad.Add(1)
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, keys, bad.Load())
	for k := range keys {
		require.EqualValues(t, 1, owners[k].Load(), "key-%d has one owner", k)
	}

	for k := range keys {
		wg.Go(func() {
			body := fmt.Appendf(nil, `{"n":%d}`, k)
			assert.NoError(t, db.SaveIdempotentResponse(ctx, scope, fmt.Sprintf("key-%d", k),
				store.StoredResponse{Status: 201, ContentType: "application/json", Body: body}))
		})
	}
	wg.Wait()
	for k := range keys {
		claim, err := db.ClaimIdempotencyKey(ctx, scope, fmt.Sprintf("key-%d", k), []byte("hash"))
		require.NoError(t, err)
		require.NotNil(t, claim.Stored)
		require.Equal(t, 201, claim.Stored.Status)
		require.JSONEq(t, fmt.Sprintf(`{"n":%d}`, k), string(claim.Stored.Body))
	}
}
