package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// An unreachable database is ErrUnavailable, whatever the call; a refusal of
// the data itself is not.
func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=2")
	require.NoError(t, err)
	defer pool.Close()
	down := store.New(pool)
	_, err = down.Event(ctx, "any")
	require.ErrorIs(t, err, store.ErrUnavailable)
	_, _, err = down.EndHold(ctx, "hld_x", store.HoldReleased) // a transaction
	require.ErrorIs(t, err, store.ErrUnavailable)
	require.ErrorIs(t, down.Ping(ctx), store.ErrUnavailable)

	_, err = storetest.DB(t).Event(ctx, "no-such-event")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NotErrorIs(t, err, store.ErrUnavailable)
	_, err = storetest.DB(t).Event(ctx, "bad\x00id")
	require.NotErrorIs(t, err, store.ErrUnavailable)
}

// The store runs inside a caller's transaction as well as on a pool: what a
// test writes there is gone once it rolls back.
func TestStoreInATransaction(t *testing.T) {
	ctx := context.Background()
	var email string
	t.Run("inside", func(t *testing.T) {
		db := storetest.Tx(t)
		u := storetest.Fan(t, db)
		email = u.Email
		got, err := db.UserByEmail(ctx, email)
		require.NoError(t, err)
		require.Equal(t, u.ID, got.ID)
		org := storetest.Organizer(t, db)
		ev := storetest.Event(t, db, org.ID, 3, store.Row{Row: "1", Seats: 2})
		snap, err := db.InventorySnapshot(ctx, ev.ID) // a read-only transaction inside it
		require.NoError(t, err)
		require.Len(t, snap.Zones, 2)
	})
	_, err := storetest.DB(t).UserByEmail(ctx, email)
	require.ErrorIs(t, err, store.ErrNotFound, "rolled back with the test")
}

// A lazy write commits without waiting for the disk, and that setting ends
// with its transaction: the connection's next statements commit durably again.
func TestLazyCommitIsItsOwn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, storetest.URL(t))
	require.NoError(t, err)
	defer c.Close(ctx)
	db := store.New(c)

	var inside string
	err = store.Lazily(ctx, db, func(b *pgx.Batch) {
		b.Queue(`SELECT current_setting('synchronous_commit')`).QueryRow(func(row pgx.Row) error { return row.Scan(&inside) })
	})
	require.NoError(t, err)
	require.Equal(t, "off", inside)
	var after string
	require.NoError(t, c.QueryRow(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&after))
	require.Equal(t, "on", after, "the lazy setting leaked into the connection")

	// Committed all the same: another connection sees the claim.
	key := store.NewID("key")
	claim, err := db.ClaimIdempotencyKey(ctx, "lazy-test", key, []byte("h"))
	require.NoError(t, err)
	require.True(t, claim.Owned)
	require.NoError(t, db.SaveIdempotentResponse(ctx, "lazy-test", key, store.StoredResponse{Status: 201, ContentType: "application/json", Body: []byte(`{}`)}))
	again, err := storetest.DB(t).ClaimIdempotencyKey(ctx, "lazy-test", key, []byte("h"))
	require.NoError(t, err)
	require.NotNil(t, again.Stored)
	require.Equal(t, 201, again.Stored.Status)
	require.NoError(t, c.QueryRow(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&after))
	require.Equal(t, "on", after, "claiming or saving a key leaked the lazy setting")
	require.NoError(t, c.QueryRow(ctx, `SELECT current_setting('plan_cache_mode')`).Scan(&after))
	require.Equal(t, "auto", after, "saving a key leaked its planning setting")
}
