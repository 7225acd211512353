package inventory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/queue"
)

func TestHoldSeatsIsAllOrNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.load(t, seated("VIP", "00000"))
	f.admit(t, "ann", "bob")

	h, err := f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "h1", Seats: []string{"1A", "1B"}, MaxPerUser: 6})
	require.NoError(t, err)
	require.Equal(t, &inventory.Hold{ID: "h1", EventID: f.ev, ZoneID: "VIP", UserID: "ann", Seats: []string{"1A", "1B"}, Quantity: 2}, h)

	_, err = f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "bob", HoldID: "h2", Seats: []string{"1C", "1B", "1A"}, MaxPerUser: 6})
	var taken *inventory.SeatTakenError
	require.ErrorAs(t, err, &taken)
	require.Equal(t, []string{"1B", "1A"}, taken.Seats, "names every seat that is gone, in the order asked")
	require.ErrorIs(t, err, inventory.ErrSeatTaken)
	require.Contains(t, err.Error(), "1B, 1A")

	require.Equal(t, map[string]inventory.TicketStatus{"1A": inventory.Reserved, "1B": inventory.Reserved, "1C": inventory.Available, "1D": inventory.Available, "1E": inventory.Available},
		f.seats(t, "VIP"), "the refused hold took nothing, not even 1C")
	require.Equal(t, inventory.ZoneCounts{ZoneID: "VIP", Available: 3, Held: 2}, f.counts(t, "VIP"))
}

// Fifty fans click the same seat at once: exactly one gets it.
func TestHoldSeatsOneWinnerUnderRace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.load(t, seated("VIP", "0000000000"))
	const n = 50
	fans := make([]string, n)
	for i := range fans {
		fans[i] = fmt.Sprintf("fan%d", i)
	}
	f.admit(t, fans...)

	var (
		wg             sync.WaitGroup
		mu             sync.Mutex
		winners, taken int
		start          = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			_, err := f.inv.HoldSeats(context.Background(), inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: fans[i], HoldID: fmt.Sprintf("h%d", i), Seats: []string{"1E"}, MaxPerUser: 6})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners++
			case errors.Is(err, inventory.ErrSeatTaken):
				taken++
			default:
				t.Errorf("fan %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	require.Equal(t, 1, winners)
	require.Equal(t, n-1, taken)
	require.Equal(t, inventory.ZoneCounts{ZoneID: "VIP", Available: 9, Held: 1}, f.counts(t, "VIP"))
}

// Forty fans want three tickets each from a pool of 100: 33 get them, nobody
// gets a partial hold, and the counters add up to the capacity.
func TestHoldQuantityNeverOversells(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.load(t, pool("GA", 100))
	const n, q = 40, 3
	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		winners, refused int
		start            = make(chan struct{})
	)
	for i := range n {
		fan := fmt.Sprintf("fan%d", i)
		f.admit(t, fan)
		wg.Go(func() {
			<-start
			_, err := f.inv.HoldQuantity(context.Background(), inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: fan, HoldID: "h-" + fan, Quantity: q, MaxPerUser: 6})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners++
			case errors.Is(err, inventory.ErrNotEnough):
				refused++
			default:
				t.Errorf("%s: %v", fan, err)
			}
		})
	}
	close(start)
	wg.Wait()
	require.Equal(t, 100/q, winners)
	require.Equal(t, n-100/q, refused)
	c := f.counts(t, "GA")
	require.Equal(t, inventory.ZoneCounts{ZoneID: "GA", Available: 100 - winners*q, Held: winners * q}, c)
	require.Equal(t, 100, c.Available+c.Held+c.Booked)
}

func TestHoldRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.load(t, seated("VIP", "0000", "0000"), pool("GA", 10))
	f.admit(t, "ann")
	// bob's session ended a moment ago: it is still in the set until the
	// admission step sweeps it, and must not count.
	require.NoError(t, f.rdb.ZAdd(ctx, queue.ActiveKey(f.ev), redisZ(f.clock.now().Add(-time.Millisecond), "bob")).Err())
	_, err := f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "taken", Seats: []string{"2D"}, MaxPerUser: 6})
	require.NoError(t, err)

	tests := []struct {
		name    string
		hold    func() error
		wantErr error
	}{
		{"never admitted", func() error {
			_, err := f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "cyd", HoldID: "x1", Seats: []string{"1A"}, MaxPerUser: 6})
			return err
		}, inventory.ErrNotAdmitted},
		{"session expired", func() error {
			_, err := f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "bob", HoldID: "x2", Quantity: 1, MaxPerUser: 6})
			return err
		}, inventory.ErrNotAdmitted},
		{"over the limit with what is held", func() error {
			_, err := f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "x3", Seats: []string{"1A", "1B"}, MaxPerUser: 2})
			return err
		}, inventory.ErrLimitReached},
		{"over the limit in one go", func() error {
			_, err := f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "x4", Quantity: 7, MaxPerUser: 6})
			return err
		}, inventory.ErrLimitReached},
		{"best available over the limit", func() error {
			_, err := f.inv.HoldBest(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "x5", Quantity: 3, MaxPerUser: 3})
			return err
		}, inventory.ErrLimitReached},
		{"unknown seat", func() error {
			_, err := f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "x6", Seats: []string{"1A", "9Z"}, MaxPerUser: 6})
			return err
		}, inventory.ErrUnknownSeat},
		{"unknown zone", func() error {
			_, err := f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "PIT", UserID: "ann", HoldID: "x7", Quantity: 1, MaxPerUser: 6})
			return err
		}, inventory.ErrUnknownZone},
		{"seats in a pool", func() error {
			_, err := f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "x8", Seats: []string{"1A"}, MaxPerUser: 6})
			return err
		}, inventory.ErrWrongKind},
		{"a quantity of a seated zone", func() error {
			_, err := f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "x9", Quantity: 1, MaxPerUser: 6})
			return err
		}, inventory.ErrWrongKind},
		{"more than the pool has", func() error {
			_, err := f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "x10", Quantity: 11})
			return err
		}, inventory.ErrNotEnough},
		{"hold id used before", func() error {
			_, err := f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "taken", Seats: []string{"1A"}, MaxPerUser: 6})
			return err
		}, inventory.ErrHoldExists},
		{"nothing asked", func() error {
			_, err := f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "x11", MaxPerUser: 6})
			return err
		}, inventory.ErrNoTickets},
		{"event not loaded", func() error {
			_, err := f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: "ev_not_loaded_" + f.ev, ZoneID: "GA", UserID: "ann", HoldID: "x12", Quantity: 1, MaxPerUser: 6})
			return err
		}, inventory.ErrNotLoaded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, tt.hold(), tt.wantErr)
		})
	}
	require.Equal(t, inventory.ZoneCounts{ZoneID: "VIP", Available: 7, Held: 1}, f.counts(t, "VIP"), "no refusal took a seat")
	require.Equal(t, inventory.ZoneCounts{ZoneID: "GA", Available: 10}, f.counts(t, "GA"))
}

// The limit counts booked tickets as well as held ones, across zones.
func TestHoldLimitCountsBookedAcrossZones(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.load(t, seated("VIP", "0000"), pool("GA", 10))
	f.admit(t, "ann")
	_, err := f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "h1", Seats: []string{"1A", "1B"}, MaxPerUser: 4})
	require.NoError(t, err)
	require.NoError(t, f.inv.MarkBooked(ctx, f.ev, "h1"))
	_, err = f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "h2", Quantity: 2, MaxPerUser: 4})
	require.NoError(t, err)
	_, err = f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "h3", Quantity: 1, MaxPerUser: 4})
	require.ErrorIs(t, err, inventory.ErrLimitReached)
	require.Contains(t, err.Error(), "4 held or booked")
}
