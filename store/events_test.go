package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// A seated zone's rows are stored in the column's own JSON, the one events
// created before have, and read back as they were given.
func TestZoneRowsColumn(t *testing.T) {
	t.Parallel()
	db := storetest.DB(t)
	ctx := context.Background()
	rows := []store.Row{{Row: "1", Seats: 3}, {Row: "AA", Seats: 2}}
	ev := storetest.Event(t, db, storetest.Organizer(t, db).ID, 2, rows...)

	var stored string
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT rows::text FROM zones WHERE event_id = $1 AND id = 'VIP'`, ev.ID).Scan(&stored))
	require.JSONEq(t, `[{"row":"1","seats":3},{"row":"AA","seats":2}]`, stored)
	var pool *string
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT rows::text FROM zones WHERE event_id = $1 AND id = 'GA'`, ev.ID).Scan(&pool))
	require.Nil(t, pool, "a pool has no rows")

	got, err := db.Event(ctx, ev.ID)
	require.NoError(t, err)
	vip, ok := got.Zone("VIP")
	require.True(t, ok)
	require.Equal(t, rows, vip.Rows)
	ga, _ := got.Zone("GA")
	require.Empty(t, ga.Rows)
}
