package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// A transaction in two round trips (BEGIN with the first batch, COMMIT with
// the last) commits both batches or neither: a refusal after the reads and a
// failing statement in either batch leave nothing written, and the pool's
// connections are never left inside a transaction.
func TestInTxCommitsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	db := store.New(pool)
	table := "intx_" + store.NewID("t")
	_, err := pool.Exec(ctx, `CREATE TABLE `+table+` (k text PRIMARY KEY)`)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), `DROP TABLE `+table) })
	insert := func(b *pgx.Batch, k string) { b.Queue(`INSERT INTO `+table+` (k) VALUES ($1)`, k) }
	stored := func() []string {
		rows, err := pool.Query(ctx, `SELECT k FROM `+table+` ORDER BY k`)
		require.NoError(t, err)
		ks, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return ks
	}
	refused := errors.New("refused")

	var seen int
	err = store.InTx(ctx, db, func(b *pgx.Batch) {
		insert(b, "a")
		b.Queue(`SELECT count(*) FROM ` + table).QueryRow(func(r pgx.Row) error { return r.Scan(&seen) })
	}, func() (*pgx.Batch, error) {
		require.Equal(t, 1, seen, "the second batch is decided on what the first read, inside the transaction")
		var b pgx.Batch
		insert(&b, "b")
		return &b, nil
	})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, stored())

	cases := map[string]struct {
		first func(b *pgx.Batch)
		then  func() (*pgx.Batch, error)
		want  error
	}{
		"refused after the reads": {
			first: func(b *pgx.Batch) { insert(b, "c") },
			then:  func() (*pgx.Batch, error) { return nil, refused },
			want:  refused,
		},
		"a statement fails in the first batch": {
			first: func(b *pgx.Batch) { insert(b, "c"); insert(b, "a") },
			then:  func() (*pgx.Batch, error) { t.Error("then ran after a failed batch"); return nil, nil },
		},
		"a statement fails in the last batch": {
			first: func(b *pgx.Batch) { insert(b, "c") },
			then: func() (*pgx.Batch, error) {
				var b pgx.Batch
				insert(&b, "d")
				insert(&b, "b")
				return &b, nil
			},
		},
	}
	for name, c := range cases {
		err := store.InTx(ctx, db, c.first, c.then)
		require.Error(t, err, name)
		if c.want != nil {
			require.ErrorIs(t, err, c.want, name)
		}
		require.Equal(t, []string{"a", "b"}, stored(), "%s: nothing of it is written", name)
	}
	for _, c := range pool.AcquireAllIdle(ctx) {
		require.Equal(t, byte('I'), c.Conn().PgConn().TxStatus(), "an idle connection is outside any transaction")
		c.Release()
	}
}
