package sale_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/realtime"
	"github.com/boxofficehq/boxoffice/sale"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// clock is the replicas' shared test clock.
type clock struct{ ms atomic.Int64 }

func (c *clock) now() time.Time { return time.UnixMilli(c.ms.Load()) }

// oneEvent lists only the test's event: the package's tests share a database.
type oneEvent struct {
	*store.DB
	id string
}

func (o oneEvent) OnSale(ctx context.Context) ([]*store.Event, error) {
	all, err := o.DB.OnSale(ctx)
	for _, e := range all {
		if e.ID == o.id {
			return []*store.Event{e}, err
		}
	}
	return nil, err
}

// watch opens a live connection to hub and returns the sale statuses it hears.
func watch(t *testing.T, hub *realtime.Hub, eventID string) <-chan string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := realtime.Accept(w, r, nil)
		if err == nil {
			_ = hub.Serve(r.Context(), conn, realtime.ClientInfo{EventID: eventID, Status: queue.StatusNone}, nil)
		}
	}))
	t.Cleanup(srv.Close)
	conn, _, err := websocket.Dial(context.Background(), strings.Replace(srv.URL, "http", "ws", 1), nil)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(websocket.StatusNormalClosure, "") })
	out := make(chan string, 64)
	go func() {
		defer close(out)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var m realtime.Message
			if json.Unmarshal(data, &m) == nil && m.Type == realtime.TypeSaleUpdate {
				out <- m.SaleStatus
			}
		}
	}()
	require.Eventually(t, func() bool { return hub.Clients(eventID) == 1 }, 5*time.Second, 10*time.Millisecond)
	return out
}

// fleet is four replicas' sale services on one event (a pool of 4, its lobby
// open, its sale an hour away) and a watcher on one of them.
type fleet struct {
	db    *store.DB
	rdb   redis.UniversalClient
	ev    *store.Event
	clock *clock
	// steps has every replica's controllers step at once, several times.
	steps func()
	// heard returns the statuses announced since the last call.
	heard func() []string
}

func newFleet(t *testing.T, flipEvery time.Duration) *fleet {
	t.Helper()
	db := storetest.DB(t)
	rdb := storetest.Redis(t)
	org := storetest.Organizer(t, db)
	now := time.Now()
	seats := 4
	price := int64(1000)
	ev, err := db.CreateEvent(context.Background(), store.NewEvent{ID: store.NewID("ev"), Settings: store.Settings{
		Name: ptr("Show"), LobbyOpensAt: ptr(now.Add(-time.Minute)), SaleOpensAt: ptr(now.Add(time.Hour)),
		StartsAt: ptr(now.Add(48 * time.Hour))},
		Zones: []store.NewZone{{ID: "GA", Kind: inventory.Pool, Capacity: &seats, PriceCents: &price}}}, org.ID)
	require.NoError(t, err)
	storetest.CleanRedis(t, rdb, ev.ID)
	c := &clock{}
	c.ms.Store(now.UnixMilli())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var replicas []*sale.Service
	var hubs []*realtime.Hub
	for range 4 {
		hub := realtime.NewHub(rdb, realtime.Options{Log: log})
		t.Cleanup(func() { _ = hub.Close() })
		hubs = append(hubs, hub)
		replicas = append(replicas, sale.New(sale.Config{Queue: queue.New(rdb, c.now), Hub: hub,
			Inventory: inventory.New(rdb, c.now, queue.ActiveKey), Store: oneEvent{DB: db, id: ev.ID}, Redis: rdb, Log: log,
			FlipEvery: flipEvery, Now: c.now}))
	}
	statuses := watch(t, hubs[1], ev.ID)
	require.Eventually(t, func() bool {
		n, err := storetest.Subscribers(context.Background(), rdb, realtime.Channel(ev.ID))
		return err == nil && n == 1
	}, 5*time.Second, 10*time.Millisecond)
	f := &fleet{db: db, rdb: rdb, ev: ev, clock: c}
	f.steps = func() {
		t.Helper()
		var wg sync.WaitGroup
		for _, r := range replicas {
			for range 5 {
				wg.Go(func() {
					for range 3 {
						events, err := r.Events(context.Background())
						assert.NoError(t, err)
						assert.Len(t, events, 1)
					}
				})
			}
		}
		wg.Wait()
	}
	f.heard = func() []string {
		t.Helper()
		require.NoError(t, hubs[0].Publish(context.Background(), ev.ID, realtime.Message{Type: realtime.TypeSaleUpdate, SaleStatus: "marker"}))
		var got []string
		for s := range statuses {
			if s == "marker" {
				return got
			}
			got = append(got, s)
		}
		t.Fatal("the watcher's connection closed")
		return nil
	}
	return f
}

// Every replica sees each change of the sale's status, the clock's included;
// the watchers hear each change once, however many replicas see it at once.
func TestSaleStatusAnnouncedOncePerChange(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 0)
	f.steps()
	require.Equal(t, []string{store.SaleLobby}, f.heard(), "the first replica to see the event announces it")
	f.clock.ms.Store(f.ev.SaleOpensAt.UnixMilli() + 1)
	f.steps()
	require.Equal(t, []string{store.SaleOpen}, f.heard(), "the opening, once")
	f.steps()
	require.Empty(t, f.heard(), "nothing changed")
}

// At the end of a sale the last tickets come and go (a hold runs out, a fan
// takes its tickets a moment later): the fleet announces at most one flip
// between open and sold_out per FlipEvery, then the status of that moment,
// and nothing when it flipped back meanwhile.
func TestSaleFlipsAnnouncedAtMostOncePerInterval(t *testing.T) {
	t.Parallel()
	// Long enough that three rounds of steps fit in it on a loaded machine
	// (at 400 ms, one make test run announced a flip inside the interval).
	const every = 2 * time.Second
	f := newFleet(t, every)
	ctx := context.Background()
	snap, err := f.db.InventorySnapshot(ctx, f.ev.ID)
	require.NoError(t, err)
	require.NoError(t, inventory.New(f.rdb, f.clock.now, queue.ActiveKey).Rebuild(ctx, snap))
	avail := func(n int) { // behind the scripts' back, as holds would
		t.Helper()
		require.NoError(t, f.rdb.HSet(ctx, "ev:{"+f.ev.ID+"}:inv:z:GA", "avail", n).Err())
	}
	f.clock.ms.Store(f.ev.SaleOpensAt.UnixMilli() + 1)
	f.steps()
	require.Equal(t, []string{store.SaleOpen}, f.heard())

	avail(0)
	f.steps()
	require.Equal(t, []string{store.SaleSoldOut}, f.heard(), "the first flip at once")
	avail(1)
	f.steps()
	avail(0)
	f.steps()
	avail(1)
	f.steps()
	require.Empty(t, f.heard(), "flips within the interval wait")
	time.Sleep(every)
	f.steps()
	require.Equal(t, []string{store.SaleOpen}, f.heard(), "then the status of now, once")
	avail(0)
	f.steps()
	avail(1)
	time.Sleep(every)
	f.steps()
	require.Empty(t, f.heard(), "a flip undone within the interval is never announced")
	avail(0)
	time.Sleep(every)
	f.steps()
	require.Equal(t, []string{store.SaleSoldOut}, f.heard())
}

func ptr[T any](v T) *T { return &v }
