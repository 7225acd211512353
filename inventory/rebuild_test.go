package inventory_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/inventory"
)

// deleteKeys loses the event's inventory as a Redis restart would.
func (f *fixture) deleteKeys(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	pattern := "ev:{" + f.ev + "}:inv:*"
	var keys []string
	// On a cluster KEYS asks one node: ask every master (the keys share a
	// slot, so one of them has them all).
	cluster, ok := f.rdb.(*redis.ClusterClient)
	if ok {
		var mu sync.Mutex
		require.NoError(t, cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			found, err := c.Keys(ctx, pattern).Result()
			mu.Lock()
			keys = append(keys, found...)
			mu.Unlock()
			return err
		}))
	} else {
		var err error
		keys, err = f.rdb.Keys(ctx, pattern).Result()
		require.NoError(t, err)
	}
	require.NotEmpty(t, keys)
	require.NoError(t, f.rdb.Del(ctx, keys...).Err())
}

func TestRebuildRestoresALostEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.load(t, pool("GA", 10), seated("VIP", "0000", "000"))
	f.admit(t, "ann", "bob", "cyd")
	_, err := f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "h1", Seats: []string{"1A", "1B"}, MaxPerUser: 4})
	require.NoError(t, err)
	_, err = f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "bob", HoldID: "h2", Quantity: 3, MaxPerUser: 4})
	require.NoError(t, err)
	_, err = f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "cyd", HoldID: "h3", Seats: []string{"2C"}, MaxPerUser: 4})
	require.NoError(t, err)
	require.NoError(t, f.inv.MarkBooked(ctx, f.ev, "h3"))
	counts, err := f.inv.Counts(ctx, f.ev)
	require.NoError(t, err)
	seats := f.seats(t, "VIP")

	// What the database holds: the same, read well after every hold.
	f.clock.advance(5 * time.Minute)
	ga := pool("GA", 10)
	for i := range 3 {
		ga.Tickets[i].Status = inventory.Reserved
	}
	snap := f.snapshot(ga, seated("VIP", "1100", "002"))
	snap.Holds = []inventory.SnapshotHold{
		{ID: "h1", ZoneID: "VIP", UserID: "ann", Seats: []string{"1A", "1B"}},
		{ID: "h2", ZoneID: "GA", UserID: "bob", Quantity: 3},
	}
	snap.Users = map[string]int{"ann": 2, "bob": 3, "cyd": 1}

	f.deleteKeys(t)
	loaded, err := f.inv.Loaded(ctx, f.ev)
	require.NoError(t, err)
	require.False(t, loaded)
	_, err = f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "h4", Quantity: 1, MaxPerUser: 4})
	require.ErrorIs(t, err, inventory.ErrNotLoaded)
	drift, err := f.inv.Drift(ctx, snap)
	require.NoError(t, err)
	require.Len(t, drift, 1)
	require.Contains(t, drift[0], "not loaded")

	require.NoError(t, f.inv.Rebuild(ctx, snap))
	loaded, err = f.inv.Loaded(ctx, f.ev)
	require.NoError(t, err)
	require.True(t, loaded)
	got, err := f.inv.Counts(ctx, f.ev)
	require.NoError(t, err)
	require.Equal(t, counts, got)
	require.Equal(t, seats, f.seats(t, "VIP"))
	drift, err = f.inv.Drift(ctx, snap)
	require.NoError(t, err)
	require.Empty(t, drift)

	// Holds and fans' counts came back too.
	require.NoError(t, f.inv.Release(ctx, f.ev, "h1"))
	require.Equal(t, inventory.Available, f.seats(t, "VIP")["1A"])
	_, err = f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "bob", HoldID: "h5", Quantity: 2, MaxPerUser: 4})
	require.ErrorIs(t, err, inventory.ErrLimitReached, "bob holds 3 of 4 already")
	_, err = f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "ann", HoldID: "h6", Quantity: 4, MaxPerUser: 4})
	require.NoError(t, err, "ann's released seats no longer count")
	require.NoError(t, f.inv.MarkBooked(ctx, f.ev, "h2"))
	require.Equal(t, inventory.ZoneCounts{ZoneID: "GA", Available: 3, Held: 4, Booked: 3}, f.counts(t, "GA"))
}

func TestDriftFindsATamperedSeat(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	snap := f.load(t, seated("VIP", "000", "012"), pool("GA", 4))
	drift, err := f.inv.Drift(ctx, snap)
	require.NoError(t, err)
	require.Empty(t, drift)

	// 1B turns booked behind the scripts' back; so do GA's counters.
	require.NoError(t, f.rdb.SetRange(ctx, "ev:{"+f.ev+"}:inv:z:VIP:state", 1, "2").Err())
	require.NoError(t, f.rdb.HIncrBy(ctx, "ev:{"+f.ev+"}:inv:z:GA", "avail", -1).Err())
	drift, err = f.inv.Drift(ctx, snap)
	require.NoError(t, err)
	require.Equal(t, []string{
		"zone VIP seat 1B: BOOKED in Redis, AVAILABLE in the database",
		"zone GA: available/held/booked 3/0/0 in Redis, 4/0/0 in the database",
	}, drift, "counters are the scripts', so a byte changed alone shows in the seats only")

	require.NoError(t, f.inv.Rebuild(ctx, snap))
	drift, err = f.inv.Drift(ctx, snap)
	require.NoError(t, err)
	require.Empty(t, drift)
	require.Equal(t, inventory.Available, f.seats(t, "VIP")["1B"])
}

// A rebuild replays what Redis decided around the time the snapshot was read:
// holds in flight survive, and holds that ended after the read stay ended.
func TestRebuildKeepsHoldsInFlight(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.load(t, seated("VIP", "000000"), pool("GA", 10))
	f.admit(t, "ann", "bob")
	hold := func(id string, seat string) {
		t.Helper()
		_, err := f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: id, Seats: []string{seat}})
		require.NoError(t, err)
	}
	hold("old", "1E") // long ago; the database never got it (its writer died)
	f.clock.advance(5 * time.Minute)
	f.admit(t, "ann", "bob")
	hold("committed-then-released", "1B")
	hold("committed-then-booked", "1C")
	_, err := f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "bob", HoldID: "pool-committed-then-released", Quantity: 2})
	require.NoError(t, err)
	hold("in-flight", "1A") // decided in Redis; its database write is still running
	_, err = f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "bob", HoldID: "pool-in-flight", Quantity: 3})
	require.NoError(t, err)

	// The database is read now: it has the committed holds only.
	f.clock.advance(time.Second)
	ga := pool("GA", 10)
	ga.Tickets[0].Status, ga.Tickets[1].Status = inventory.Reserved, inventory.Reserved
	snap := f.snapshot(seated("VIP", "011000"), ga)
	snap.Holds = []inventory.SnapshotHold{
		{ID: "committed-then-released", ZoneID: "VIP", UserID: "ann", Seats: []string{"1B"}},
		{ID: "committed-then-booked", ZoneID: "VIP", UserID: "ann", Seats: []string{"1C"}},
		{ID: "pool-committed-then-released", ZoneID: "GA", UserID: "bob", Quantity: 2},
	}
	snap.Users = map[string]int{"ann": 2, "bob": 2}

	// Between the read and the rebuild: ends reach Redis, a new hold is decided,
	// and a hold decided after the read is booked already.
	f.clock.advance(time.Second)
	require.NoError(t, f.inv.Release(ctx, f.ev, "committed-then-released"))
	require.NoError(t, f.inv.MarkBooked(ctx, f.ev, "committed-then-booked"))
	require.NoError(t, f.inv.Release(ctx, f.ev, "pool-committed-then-released"))
	hold("after-read", "1D")
	hold("after-read-booked", "1F")
	require.NoError(t, f.inv.MarkBooked(ctx, f.ev, "after-read-booked"))

	require.NoError(t, f.inv.Rebuild(ctx, snap))
	require.Equal(t, map[string]inventory.TicketStatus{
		"1A": inventory.Reserved,  // in flight: kept
		"1B": inventory.Available, // released after the read: stays released
		"1C": inventory.Booked,    // booked after the read: stays booked
		"1D": inventory.Reserved,  // decided after the read: kept
		"1E": inventory.Available, // older than any write in flight: the database is right
		"1F": inventory.Booked,    // decided and booked after the read: kept booked
	}, f.seats(t, "VIP"))
	require.Equal(t, inventory.ZoneCounts{ZoneID: "VIP", Available: 2, Held: 2, Booked: 2}, f.counts(t, "VIP"))
	require.Equal(t, inventory.ZoneCounts{ZoneID: "GA", Available: 7, Held: 3}, f.counts(t, "GA"))

	// The kept holds are real holds: their database writes fail or succeed later,
	// and the caller releases or books them.
	require.NoError(t, f.inv.Release(ctx, f.ev, "in-flight"))
	require.NoError(t, f.inv.Release(ctx, f.ev, "pool-in-flight"))
	require.NoError(t, f.inv.Release(ctx, f.ev, "old"), "unknown after the rebuild: a no-op")
	require.Equal(t, inventory.Available, f.seats(t, "VIP")["1A"])
	// ann holds 1D and has 1C and 1F booked; bob has nothing.
	_, err = f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "x", Seats: []string{"1A"}, MaxPerUser: 3})
	require.ErrorIs(t, err, inventory.ErrLimitReached)
	_, err = f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: "bob", HoldID: "y", Quantity: 10, MaxPerUser: 10})
	require.NoError(t, err)
}

// Two replicas may rebuild at once; the older snapshot must not undo the newer.
func TestRebuildIgnoresAnOlderSnapshot(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	older := f.snapshot(seated("VIP", "0000"))
	f.clock.advance(time.Minute)
	newer := f.load(t, seated("VIP", "2200"))
	require.NoError(t, f.inv.Rebuild(ctx, older))
	drift, err := f.inv.Drift(ctx, newer)
	require.NoError(t, err)
	require.Empty(t, drift)
}

func TestRebuildRefusesAnInconsistentSnapshot(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dup := seated("VIP", "00")
	dup.Tickets[1].SeatID = "1A"
	badRow := seated("VIP", "00")
	badRow.Rows[0].Len = 3
	tests := []struct {
		name  string
		zones []inventory.SnapshotZone
		holds []inventory.SnapshotHold
	}{
		{name: "no zones"},
		{name: "seat twice", zones: []inventory.SnapshotZone{dup}},
		{name: "row past the zone's end", zones: []inventory.SnapshotZone{badRow}},
		{name: "unknown status", zones: []inventory.SnapshotZone{{ID: "GA", Kind: inventory.Pool, Tickets: []inventory.SnapshotTicket{{Status: "SOLD"}}}}},
		{name: "unknown kind", zones: []inventory.SnapshotZone{{ID: "GA", Kind: "standing", Tickets: []inventory.SnapshotTicket{{Status: inventory.Available}}}}},
		{name: "hold on an available seat", zones: []inventory.SnapshotZone{seated("VIP", "01")},
			holds: []inventory.SnapshotHold{{ID: "h", ZoneID: "VIP", UserID: "ann", Seats: []string{"1A"}}}},
		{name: "hold in an unknown zone", zones: []inventory.SnapshotZone{seated("VIP", "01")},
			holds: []inventory.SnapshotHold{{ID: "h", ZoneID: "PIT", UserID: "ann", Quantity: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := f.snapshot(tt.zones...)
			snap.Holds = tt.holds
			require.Error(t, f.inv.Rebuild(context.Background(), snap))
		})
	}
	loaded, err := f.inv.Loaded(context.Background(), f.ev)
	require.NoError(t, err)
	require.False(t, loaded, "nothing was written")
}

// Holds keep coming while replicas rebuild the event over and over from a
// snapshot that has none of them: no hold that succeeded is lost, and the
// counters still add up.
func TestRebuildUnderConcurrentHolds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	rows := make([]string, 10)
	for i := range rows {
		rows[i] = "0000000000"
	}
	snap := f.load(t, seated("VIP", rows...), pool("GA", 100))
	const fans = 20
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		held    = map[string]bool{}
		gaHeld  int
		stop    = make(chan struct{})
		rebuilt sync.WaitGroup
	)
	rebuilt.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				require.NoError(t, f.inv.Rebuild(ctx, snap))
			}
		}
	})
	for i := range fans {
		fan := fmt.Sprintf("fan%d", i)
		f.admit(t, fan)
		wg.Go(func() {
			for j := range 5 {
				seat := fmt.Sprintf("%d%c", i%10+1, 'A'+rune(j+5*(i/10)))
				if _, err := f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: fan, HoldID: fmt.Sprintf("%s-%d", fan, j), Seats: []string{seat}}); err == nil {
					mu.Lock()
					held[seat] = true
					mu.Unlock()
				}
				if _, err := f.inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "GA", UserID: fan, HoldID: fmt.Sprintf("%s-ga-%d", fan, j), Quantity: 1}); err == nil {
					mu.Lock()
					gaHeld++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	rebuilt.Wait()

	require.Len(t, held, fans*5, "every seat was asked once: every hold wins")
	seats := f.seats(t, "VIP")
	for s := range held {
		require.Equal(t, inventory.Reserved, seats[s], s)
	}
	require.Equal(t, inventory.ZoneCounts{ZoneID: "VIP", Available: 100 - len(held), Held: len(held)}, f.counts(t, "VIP"))
	require.Equal(t, inventory.ZoneCounts{ZoneID: "GA", Available: 100 - gaHeld, Held: gaHeld}, f.counts(t, "GA"))
}
