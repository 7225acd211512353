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
	_, err := f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "h1", Seats: []string{"1A", "1B"}, MaxPerUser: 4})
	require.NoError(t, err)
	_, err = f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "h2", Quantity: 2, MaxPerUser: 4})
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
	_, err = f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "h3", Quantity: 4, MaxPerUser: 4})
	require.NoError(t, err)
	// A released hold id stays used while it is remembered.
	_, err = f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "h1", Seats: []string{"1C"}})
	require.ErrorIs(t, err, inventory.ErrHoldExists)
}

// A second release after someone else took the seats must not free them.
func TestReleaseTwiceDoesNotFreeAnotherFansSeats(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.load(t, seated("VIP", "00"))
	f.admit(t, "ann", "bob")
	_, err := f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "h1", Seats: []string{"1A"}})
	require.NoError(t, err)
	require.NoError(t, f.inv.Release(ctx, f.ev, "h1"))
	_, err = f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "bob", HoldID: "h2", Seats: []string{"1A"}})
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
	_, err := f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "h1", Seats: []string{"1A", "1B"}})
	require.NoError(t, err)
	_, err = f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "h2", Quantity: 3})
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
	_, err = f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "h3", Quantity: 2, MaxPerUser: 6})
	require.ErrorIs(t, err, inventory.ErrLimitReached)
}

func TestReleaseBookingIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.load(t, seated("VIP", "0000"), pool("GA", 10))
	f.admit(t, "ann")
	_, err := f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "h1", Seats: []string{"1A", "1B"}, MaxPerUser: 6})
	require.NoError(t, err)
	_, err = f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "h2", Quantity: 3, MaxPerUser: 6})
	require.NoError(t, err)
	require.NoError(t, f.inv.MarkBooked(ctx, f.ev, "h1"))
	require.NoError(t, f.inv.MarkBooked(ctx, f.ev, "h2"))

	for range 2 {
		require.NoError(t, f.inv.ReleaseBooking(ctx, inventory.BookingRelease{EventID: f.ev, BookingID: "b1", ZoneID: "VIP", UserID: "ann", Seats: []string{"1A", "1B"}}))
		require.NoError(t, f.inv.ReleaseBooking(ctx, inventory.BookingRelease{EventID: f.ev, BookingID: "b2", ZoneID: "GA", UserID: "ann", Quantity: 3}))
	}
	require.Equal(t, inventory.ZoneCounts{ZoneID: "VIP", Available: 4}, f.counts(t, "VIP"))
	require.Equal(t, inventory.ZoneCounts{ZoneID: "GA", Available: 10}, f.counts(t, "GA"))
	// The fan's count is back to zero: six fit again.
	_, err = f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "h3", Quantity: 6, MaxPerUser: 6})
	require.NoError(t, err)

	// Once the seats are sold again, a late retry of the cancellation changes nothing.
	f.admit(t, "bob")
	_, err = f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "bob", HoldID: "h4", Seats: []string{"1A"}, MaxPerUser: 6})
	require.NoError(t, err)
	require.NoError(t, f.inv.MarkBooked(ctx, f.ev, "h4"))
	require.NoError(t, f.inv.ReleaseBooking(ctx, inventory.BookingRelease{EventID: f.ev, BookingID: "b1", ZoneID: "VIP", UserID: "ann", Seats: []string{"1A", "1B"}}))
	require.Equal(t, inventory.Booked, f.seats(t, "VIP")["1A"])

	require.ErrorIs(t, f.inv.ReleaseBooking(ctx, inventory.BookingRelease{EventID: f.ev, BookingID: "b5", ZoneID: "GA", UserID: "ann", Seats: []string{"1A"}}), inventory.ErrWrongKind)
	require.ErrorIs(t, f.inv.ReleaseBooking(ctx, inventory.BookingRelease{EventID: f.ev, BookingID: "b6", ZoneID: "VIP", UserID: "ann"}), inventory.ErrNoTickets)
}

// Ended holds are forgotten after a while, so the hash of holds does not grow
// with every hold of the sale.
func TestEndedHoldsAreForgotten(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.load(t, pool("GA", 10))
	f.admit(t, "ann")
	_, err := f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "h1", Quantity: 1})
	require.NoError(t, err)
	require.NoError(t, f.inv.Release(ctx, f.ev, "h1"))

	f.clock.advance(11 * time.Minute)
	f.admit(t, "ann")
	_, err = f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "h2", Quantity: 1})
	require.NoError(t, err)
	require.NoError(t, f.inv.Release(ctx, f.ev, "h2")) // forgets h1 on the way
	n, err := f.rdb.HLen(ctx, "ev:{"+f.ev+"}:inv:holds").Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	_, err = f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "h1", Quantity: 1})
	require.NoError(t, err, "a forgotten id is free again")
}

func TestCountsAndSeats(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.load(t, pool("GA", 5), seated("VIP", "012", "00"))
	f.admit(t, "ann")
	_, err := f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "h1", Quantity: 2})
	require.NoError(t, err)
	_, err = f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "h2", Seats: []string{"2B"}})
	require.NoError(t, err)

	counts, err := f.inv.Counts(ctx, f.ev)
	require.NoError(t, err)
	require.Equal(t, []inventory.ZoneCounts{
		{ZoneID: "GA", Available: 3, Held: 2},
		{ZoneID: "VIP", Available: 2, Held: 2, Booked: 1},
	}, counts, "zones in the snapshot's order")
	require.Equal(t, map[string]inventory.TicketStatus{"1A": inventory.Available, "1B": inventory.Reserved, "1C": inventory.Booked, "2A": inventory.Available, "2B": inventory.Reserved},
		f.seats(t, "VIP"))

	_, err = f.inv.Seats(ctx, f.ev, "GA")
	require.ErrorIs(t, err, inventory.ErrWrongKind)
	_, err = f.inv.Seats(ctx, f.ev, "PIT")
	require.ErrorIs(t, err, inventory.ErrUnknownZone)
	_, err = f.inv.Counts(ctx, "ev_missing_"+f.ev)
	require.ErrorIs(t, err, inventory.ErrNotLoaded)
}

// A hold whose tickets Redis no longer has as held (drift the next rebuild
// repairs) still ends whole: moving zero tickets used to send HINCRBY "-0",
// which Redis refuses, and the script stopped after it had written.
func TestEndingAHoldWithNothingToMoveFinishes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.load(t, seated("VIP", "0000"))
	f.admit(t, "ann")
	_, err := f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "h1", Seats: []string{"1A"}, MaxPerUser: 1})
	require.NoError(t, err)
	require.NoError(t, f.rdb.SetRange(ctx, "ev:{"+f.ev+"}:inv:z:VIP:state", 0, "0").Err()) // drifted

	require.NoError(t, f.inv.Release(ctx, f.ev, "h1"))
	// The fan's count went down, so the limit of one is free again.
	_, err = f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "h2", Seats: []string{"1B"}, MaxPerUser: 1})
	require.NoError(t, err)
}

// A rebuild whose snapshot already has a cancellation, followed by that
// cancellation's own release, frees nothing twice: neither another fan's
// booked tickets nor the cancelling fan's count (which would let them past the
// limit).
func TestBookingReleaseAfterARebuildThatHasItChangesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ga := pool("GA", 10)
	for i := range 2 {
		ga.Tickets[i].Status = inventory.Booked // bob's two tickets
	}
	snap := f.snapshot(seated("VIP", "2000"), ga) // 1A: bob's too
	snap.Users = map[string]int{"bob": 3}
	// Ann's booking of 1B and two GA tickets was cancelled before the read.
	snap.Cancelled = []inventory.CancelledBooking{{BookingID: "b-ann", ZoneID: "VIP"}, {BookingID: "b-ann", ZoneID: "GA"}}
	require.NoError(t, f.inv.Rebuild(ctx, snap))

	require.NoError(t, f.inv.ReleaseBooking(ctx, inventory.BookingRelease{EventID: f.ev, BookingID: "b-ann", ZoneID: "VIP", UserID: "ann", Seats: []string{"1A"}}))
	require.NoError(t, f.inv.ReleaseBooking(ctx, inventory.BookingRelease{EventID: f.ev, BookingID: "b-ann", ZoneID: "GA", UserID: "ann", Quantity: 2}))
	require.Equal(t, inventory.ZoneCounts{ZoneID: "GA", Available: 8, Booked: 2}, f.counts(t, "GA"))
	require.Equal(t, inventory.Booked, f.seats(t, "VIP")["1A"], "bob's seat stays sold")

	f.admit(t, "ann")
	_, err := f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "h1", Quantity: 5, MaxPerUser: 4})
	require.ErrorIs(t, err, inventory.ErrLimitReached, "ann's count was not lowered below zero")
}
