package inventory_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// clock is a test clock shared by every goroutine of a test.
type clock struct{ ms atomic.Int64 }

func (c *clock) now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *clock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

type fixture struct {
	rdb   redis.UniversalClient
	inv   *inventory.Inventory
	clock *clock
	ev    string
}

// newFixture gives a test its own event id, so tests run in parallel and beside
// other packages on the same Redis.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	rdb := storetest.Redis(t)
	ev := store.NewID("ev")
	storetest.CleanRedis(t, rdb, ev)
	c := &clock{}
	c.ms.Store(time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC).UnixMilli())
	return &fixture{rdb: rdb, inv: inventory.New(rdb, c.now, queue.ActiveKey), clock: c, ev: ev}
}

// admit gives fans a shopping session of ten minutes, as the waiting room does.
func (f *fixture) admit(t testing.TB, users ...string) {
	t.Helper()
	for _, u := range users {
		exp := f.clock.now().Add(10 * time.Minute).UnixMilli()
		require.NoError(t, f.rdb.ZAdd(context.Background(), queue.ActiveKey(f.ev), redis.Z{Score: float64(exp), Member: u}).Err())
	}
}

// snapshot is a database view of the fixture's event.
func (f *fixture) snapshot(zones ...inventory.SnapshotZone) *inventory.Snapshot {
	return &inventory.Snapshot{EventID: f.ev, TakenAt: f.clock.now(), Zones: zones, Users: map[string]int{}}
}

// load puts zones into Redis as the database would.
func (f *fixture) load(t testing.TB, zones ...inventory.SnapshotZone) *inventory.Snapshot {
	t.Helper()
	snap := f.snapshot(zones...)
	require.NoError(t, f.inv.Rebuild(context.Background(), snap))
	return snap
}

// seated is a seated zone whose rows are given as their seats' states, nearest
// the stage first: '0' available, '1' reserved, '2' booked. Row i is named i+1
// and its seats 1A, 1B, … as the store names them.
func seated(id string, rows ...string) inventory.SnapshotZone {
	z := inventory.SnapshotZone{ID: id, Kind: inventory.Seated}
	for i, r := range rows {
		name := strconv.Itoa(i + 1)
		z.Rows = append(z.Rows, inventory.SnapshotRow{Row: name, Offset: len(z.Tickets), Len: len(r)})
		for j, c := range r {
			z.Tickets = append(z.Tickets, inventory.SnapshotTicket{SeatID: name + store.SeatLetters(j+1), Status: status(c)})
		}
	}
	return z
}

// pool is a pool zone of n tickets, all available.
func pool(id string, n int) inventory.SnapshotZone {
	z := inventory.SnapshotZone{ID: id, Kind: inventory.Pool, Tickets: make([]inventory.SnapshotTicket, n)}
	for i := range z.Tickets {
		z.Tickets[i].Status = inventory.Available
	}
	return z
}

func status(c rune) inventory.TicketStatus {
	return map[rune]inventory.TicketStatus{'0': inventory.Available, '1': inventory.Reserved, '2': inventory.Booked}[c]
}

// counts is one zone's counts.
func (f *fixture) counts(t testing.TB, zone string) inventory.ZoneCounts {
	t.Helper()
	all, err := f.inv.Counts(context.Background(), f.ev)
	require.NoError(t, err)
	for _, c := range all {
		if c.ZoneID == zone {
			return c
		}
	}
	t.Fatalf("zone %s not in counts %v", zone, all)
	return inventory.ZoneCounts{}
}

// seats is one seated zone's seat states.
func (f *fixture) seats(t testing.TB, zone string) map[string]inventory.TicketStatus {
	t.Helper()
	s, err := f.inv.Seats(context.Background(), f.ev, zone)
	require.NoError(t, err)
	return s
}

func redisZ(at time.Time, member string) redis.Z {
	return redis.Z{Score: float64(at.UnixMilli()), Member: member}
}
