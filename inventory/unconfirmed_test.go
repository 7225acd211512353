package inventory_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/inventory"
)

// Every hold waits for the database's word; ending or confirming it stops the
// wait, and what is left past its deadline is a phantom to free.
func TestUnconfirmedHolds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.load(t, seated("VIP", "0000"), pool("GA", 10))
	f.admit(t, "ann")
	for _, h := range []inventory.HoldRequest{
		{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "confirmed", Seats: []string{"1A"}},
		{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "released", Quantity: 1},
		{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "phantom", Quantity: 2},
	} {
		var err error
		if len(h.Seats) > 0 {
			_, err = f.inv.HoldSeats(ctx, h)
		} else {
			_, err = f.inv.HoldQuantity(ctx, h)
		}
		require.NoError(t, err)
	}
	decided := f.clock.now()
	f.clock.advance(time.Second)
	_, err := f.inv.HoldBest(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "later", Quantity: 1})
	require.NoError(t, err)

	require.NoError(t, f.inv.Confirm(ctx, f.ev, []string{"confirmed"}))
	require.NoError(t, f.inv.Release(ctx, f.ev, "released"))
	got, err := f.inv.Unconfirmed(ctx, f.ev, decided, 100)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"phantom": "GA"}, got, "decided by then and never confirmed")

	require.NoError(t, f.inv.Release(ctx, f.ev, "phantom"))
	got, err = f.inv.Unconfirmed(ctx, f.ev, f.clock.now(), 100)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"later": "VIP"}, got)
	require.Equal(t, inventory.ZoneCounts{ZoneID: "GA", Available: 10}, f.counts(t, "GA"))
}
