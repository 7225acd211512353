package inventory_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/inventory"
)

func TestReleaseIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.load(t, seated("VIP", "0000"), pool("GA", 10))
	f.admit(t, "ann")
	_, err := f.inv.HoldSeats(ctx, f.ev, "VIP", "ann", "h1", []string{"1A", "1B"}, 4)
	require.NoError(t, err)
	_, err = f.inv.HoldQuantity(ctx, f.ev, "GA", "ann", "h2", 2, 4)
	require.NoError(t, err)

	for range 2 {
		require.NoError(t, f.inv.Release(ctx, f.ev, "h1"))
		require.NoError(t, f.inv.Release(ctx, f.ev, "h2"))
	}
	require.NoError(t, f.inv.Release(ctx, f.ev, "never-held"))
	require.Equal(t, inventory.ZoneCounts{ZoneID: "VIP", Available: 4}, f.counts(t, "VIP"))
	require.Equal(t, inventory.ZoneCounts{ZoneID: "GA", Available: 10}, f.counts(t, "GA"))
	require.Equal(t, inventory.Available, f.seats(t, "VIP")["1A"])

	// The fan's count went back down: the whole limit is free again.
	_, err = f.inv.HoldQuantity(ctx, f.ev, "GA", "ann", "h3", 4, 4)
	require.NoError(t, err)
	// A released hold id stays used while it is remembered.
	_, err = f.inv.HoldSeats(ctx, f.ev, "VIP", "ann", "h1", []string{"1C"}, 0)
	require.ErrorIs(t, err, inventory.ErrHoldExists)
}

// A second release after someone else took the seats must not free them.
func TestReleaseTwiceDoesNotFreeAnotherFansSeats(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.load(t, seated("VIP", "00"))
	f.admit(t, "ann", "bob")
	_, err := f.inv.HoldSeats(ctx, f.ev, "VIP", "ann", "h1", []string{"1A"}, 0)
	require.NoError(t, err)
	require.NoError(t, f.inv.Release(ctx, f.ev, "h1"))
	_, err = f.inv.HoldSeats(ctx, f.ev, "VIP", "bob", "h2", []string{"1A"}, 0)
	require.NoError(t, err)
	require.NoError(t, f.inv.Release(ctx, f.ev, "h1"))
	require.Equal(t, inventory.Reserved, f.seats(t, "VIP")["1A"])
}

func TestMarkBookedIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.load(t, seated("VIP", "0000"), pool("GA", 10))
	f.admit(t, "ann")
	_, err := f.inv.HoldSeats(ctx, f.ev, "VIP", "ann", "h1", []string{"1A", "1B"}, 0)
	require.NoError(t, err)
	_, err = f.inv.HoldQuantity(ctx, f.ev, "GA", "ann", "h2", 3, 0)
	require.NoError(t, err)

	for range 2 {
		require.NoError(t, f.inv.MarkBooked(ctx, f.ev, "h1"))
		require.NoError(t, f.inv.MarkBooked(ctx, f.ev, "h2"))
	}
	require.NoError(t, f.inv.MarkBooked(ctx, f.ev, "never-held"))
	// Releasing a booked hold is a no-op: the tickets are sold.
	require.NoError(t, f.inv.Release(ctx, f.ev, "h1"))
	require.NoError(t, f.inv.Release(ctx, f.ev, "h2"))
	require.Equal(t, inventory.ZoneCounts{ZoneID: "VIP", Available: 2, Booked: 2}, f.counts(t, "VIP"))
	require.Equal(t, inventory.ZoneCounts{ZoneID: "GA", Available: 7, Booked: 3}, f.counts(t, "GA"))
	require.Equal(t, inventory.Booked, f.seats(t, "VIP")["1B"])
	// Booked tickets still count toward the limit.
	_, err = f.inv.HoldQuantity(ctx, f.ev, "GA", "ann", "h3", 2, 6)
	require.ErrorIs(t, err, inventory.ErrLimitReached)
}

func TestReleaseBookingIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.load(t, seated("VIP", "0000"), pool("GA", 10))
	f.admit(t, "ann")
	_, err := f.inv.HoldSeats(ctx, f.ev, "VIP", "ann", "h1", []string{"1A", "1B"}, 6)
	require.NoError(t, err)
	_, err = f.inv.HoldQuantity(ctx, f.ev, "GA", "ann", "h2", 3, 6)
	require.NoError(t, err)
	require.NoError(t, f.inv.MarkBooked(ctx, f.ev, "h1"))
	require.NoError(t, f.inv.MarkBooked(ctx, f.ev, "h2"))

	for range 2 {
		require.NoError(t, f.inv.ReleaseBooking(ctx, f.ev, "b1", "VIP", "ann", []string{"1A", "1B"}, 0))
		require.NoError(t, f.inv.ReleaseBooking(ctx, f.ev, "b2", "GA", "ann", nil, 3))
	}
	require.Equal(t, inventory.ZoneCounts{ZoneID: "VIP", Available: 4}, f.counts(t, "VIP"))
	require.Equal(t, inventory.ZoneCounts{ZoneID: "GA", Available: 10}, f.counts(t, "GA"))
	// The fan's count is back to zero: six fit again.
	_, err = f.inv.HoldQuantity(ctx, f.ev, "GA", "ann", "h3", 6, 6)
	require.NoError(t, err)

	// Once the seats are sold again, a late retry of the cancellation changes nothing.
	f.admit(t, "bob")
	_, err = f.inv.HoldSeats(ctx, f.ev, "VIP", "bob", "h4", []string{"1A"}, 6)
	require.NoError(t, err)
	require.NoError(t, f.inv.MarkBooked(ctx, f.ev, "h4"))
	require.NoError(t, f.inv.ReleaseBooking(ctx, f.ev, "b1", "VIP", "ann", []string{"1A", "1B"}, 0))
	require.Equal(t, inventory.Booked, f.seats(t, "VIP")["1A"])

	require.ErrorIs(t, f.inv.ReleaseBooking(ctx, f.ev, "b5", "GA", "ann", []string{"1A"}, 0), inventory.ErrWrongKind)
	require.ErrorIs(t, f.inv.ReleaseBooking(ctx, f.ev, "b6", "VIP", "ann", nil, 0), inventory.ErrNoTickets)
}

// Ended holds are forgotten after a while, so the hash of holds does not grow
// with every hold of the sale.
func TestEndedHoldsAreForgotten(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.load(t, pool("GA", 10))
	f.admit(t, "ann")
	_, err := f.inv.HoldQuantity(ctx, f.ev, "GA", "ann", "h1", 1, 0)
	require.NoError(t, err)
	require.NoError(t, f.inv.Release(ctx, f.ev, "h1"))

	f.clock.advance(11 * time.Minute)
	f.admit(t, "ann")
	_, err = f.inv.HoldQuantity(ctx, f.ev, "GA", "ann", "h2", 1, 0)
	require.NoError(t, err)
	require.NoError(t, f.inv.Release(ctx, f.ev, "h2")) // forgets h1 on the way
	n, err := f.rdb.HLen(ctx, "ev:{"+f.ev+"}:inv:holds").Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	_, err = f.inv.HoldQuantity(ctx, f.ev, "GA", "ann", "h1", 1, 0)
	require.NoError(t, err, "a forgotten id is free again")
}

func TestCountsAndSeats(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.load(t, pool("GA", 5), seated("VIP", "012", "00"))
	f.admit(t, "ann")
	_, err := f.inv.HoldQuantity(ctx, f.ev, "GA", "ann", "h1", 2, 0)
	require.NoError(t, err)
	_, err = f.inv.HoldSeats(ctx, f.ev, "VIP", "ann", "h2", []string{"2B"}, 0)
	require.NoError(t, err)

	counts, err := f.inv.Counts(ctx, f.ev)
	require.NoError(t, err)
	require.Equal(t, []inventory.ZoneCounts{
		{ZoneID: "GA", Available: 3, Held: 2},
		{ZoneID: "VIP", Available: 2, Held: 2, Booked: 1},
	}, counts, "zones in the snapshot's order")
	require.Equal(t, map[string]string{"1A": "AVAILABLE", "1B": "RESERVED", "1C": "BOOKED", "2A": "AVAILABLE", "2B": "RESERVED"},
		f.seats(t, "VIP"))

	_, err = f.inv.Seats(ctx, f.ev, "GA")
	require.ErrorIs(t, err, inventory.ErrWrongKind)
	_, err = f.inv.Seats(ctx, f.ev, "PIT")
	require.ErrorIs(t, err, inventory.ErrUnknownZone)
	_, err = f.inv.Counts(ctx, "ev_missing_"+f.ev)
	require.ErrorIs(t, err, inventory.ErrNotLoaded)
}
