package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/app"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// liveClient is a fan's WebSocket on one instance.
type liveClient struct {
	t    *testing.T
	conn *websocket.Conn
	msgs chan map[string]any
}

func (e *env) dialLive(t *testing.T, eventID, token string) *liveClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := strings.Replace(e.srv.URL, "http://", "ws://", 1) + "/api/v1/events/" + eventID + "/live?token=" + token
	conn, _, err := websocket.Dial(ctx, url, nil)
	require.NoError(t, err)
	lc := &liveClient{t: t, conn: conn, msgs: make(chan map[string]any, 256)}
	go func() {
		defer close(lc.msgs)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(data, &m) == nil {
				lc.msgs <- m
			}
		}
	}()
	t.Cleanup(func() { conn.Close(websocket.StatusNormalClosure, "") })
	return lc
}

// await returns the first message that satisfies ok, failing after a generous deadline.
func (lc *liveClient) await(what string, ok func(m map[string]any) bool) map[string]any {
	lc.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, open := <-lc.msgs:
			require.True(lc.t, open, "connection closed while waiting for %s", what)
			if ok(m) {
				return m
			}
		case <-deadline:
			lc.t.Fatalf("no %s within 10 s", what)
		}
	}
}

func isType(typ string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["type"] == typ }
}

func position(p float64) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["type"] == "queue.update" && m["position"] == p }
}

// runController steps the event's line on an instance, as serve does: the
// replica's admission loop (every 50 ms in tests) takes up the event.
func (e *env) runController(t testing.TB, eventID string) {
	t.Helper()
	e.listing.add(eventID)
}

// Fans connected to two instances see their positions fall and their admission
// arrive, and the connection itself claims the admission.
func TestLiveAcrossTwoInstances(t *testing.T) {
	t.Parallel()
	one, two := newEnv(t), newEnv(t)
	id := one.openEvent(1)
	ann, _ := one.fan()
	bob, _ := one.fan()
	cat, _ := one.fan()
	for _, tok := range []string{ann, bob, cat} {
		require.Equal(t, http.StatusOK, one.call(http.MethodPost, "/api/v1/events/"+id+"/queue", tok, nil).Status)
	}
	annLive := one.dialLive(t, id, ann)
	bobLive := two.dialLive(t, id, bob)
	catLive := one.dialLive(t, id, cat)
	snap := bobLive.await("bob's snapshot", isType("queue.update"))
	require.Equal(t, 2.0, snap["position"])
	bobLive.await("availability in the snapshot", isType("availability.update"))
	catLive.await("cat's snapshot", position(3))

	one.runController(t, id)
	two.runController(t, id)
	annLive.await("ann's admission", isType("session.admitted"))
	bobLive.await("bob moving to 1", position(1))
	catLive.await("cat moving to 2", position(2))

	// Ann is done: Bob's open connection claims his admission, Cat moves up.
	require.Equal(t, http.StatusOK, two.call(http.MethodDelete, "/api/v1/events/"+id+"/queue", ann, nil).Status)
	adm := bobLive.await("bob's admission", isType("session.admitted"))
	require.NotEmpty(t, adm["session_id"])
	catLive.await("cat moving to 1", position(1))
	r := one.call(http.MethodGet, "/api/v1/events/"+id+"/queue", bob, nil)
	require.Equal(t, "admitted", r.JSON(t)["status"])
	require.Equal(t, adm["session_id"], r.JSON(t)["session"].(map[string]any)["id"])
}

func TestLivePingPongAndAnonymousWatchers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.openEvent(1)
	watcher := e.dialLive(t, id, "")
	watcher.await("availability", isType("availability.update"))
	watcher.await("sale status", isType("sale.update"))
	require.NoError(t, watcher.conn.Write(context.Background(), websocket.MessageText, []byte(`{"type":"ping"}`)))
	watcher.await("pong", isType("pong"))
}

// Every change reaches watchers as availability and seat updates, and a fan
// whose hold runs out is told so, with no request of theirs needed.
func TestLiveInventoryUpdates(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, envParts{every: app.Intervals{Expiry: 100 * time.Millisecond}})
	id := e.seatedEvent(5)
	hold := 2
	_, err := e.db.UpdateEvent(context.Background(), id, store.Settings{HoldSeconds: &hold})
	require.NoError(t, err)

	watcher := e.dialLive(t, id, "")
	watcher.await("the snapshot", isType("sale.update"))
	ann := e.shopper(id)
	annLive := e.dialLive(t, id, ann)
	annLive.await("ann's snapshot", isType("availability.update"))

	r := e.call(http.MethodPost, "/api/v1/tickets/reserve", ann, reserveBody(id, "VIP", []string{"2B", "2C"}, 0))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	holdID := r.JSON(t)["reservation"].(map[string]any)["id"]
	watcher.await("VIP availability", func(m map[string]any) bool {
		return m["type"] == "availability.update" && m["zone_id"] == "VIP" && m["available_tickets"] == 13.0
	})
	watcher.await("the seats taken", func(m map[string]any) bool {
		seats, _ := m["seats"].(map[string]any)
		return m["type"] == "seat.update" && seats["2B"] == "RESERVED"
	})
	expired := annLive.await("ann's hold expiring", isType("reservation.expired"))
	require.Equal(t, holdID, expired["reservation_id"])
	watcher.await("the seats back on sale", func(m map[string]any) bool {
		seats, _ := m["seats"].(map[string]any)
		return m["type"] == "seat.update" && seats["2B"] == "AVAILABLE"
	})
}

// A socket's snapshot counts the tickets of now, not those of the replica's
// cached event (up to a second old): a change announced in that second, before
// the socket joined, would otherwise never reach it.
func TestLiveSnapshotIsOfNow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.seatedEvent(5)
	ann := e.shopper(id)
	time.Sleep(1100 * time.Millisecond) // the replica's cached event runs out
	first := e.dialLive(t, id, "")      // the replica reads and caches the event
	first.await("the snapshot", isType("sale.update"))
	r := e.call(http.MethodPost, "/api/v1/tickets/reserve", ann, reserveBody(id, "VIP", []string{"2B", "2C"}, 0))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	first.await("VIP availability after the hold", func(m map[string]any) bool {
		return m["type"] == "availability.update" && m["zone_id"] == "VIP" && m["available_tickets"] == 13.0
	})

	time.Sleep(300 * time.Millisecond) // the sale's counts are at most 250 ms old; the cached event's a second
	next := e.dialLive(t, id, "")      // announced before it joined
	snap := next.await("VIP in the snapshot", func(m map[string]any) bool {
		return m["type"] == "availability.update" && m["zone_id"] == "VIP"
	})
	require.Equal(t, 13.0, snap["available_tickets"])
}

// Fans waiting in the lobby on two instances learn their shuffled places when
// the sale opens, whichever instance numbered the lobby.
func TestLiveLobbyOpening(t *testing.T) {
	t.Parallel()
	one, two := newEnv(t), newEnv(t)
	body := eventBody()
	body["lobby_opens_at"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	body["sale_opens_at"] = time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339Nano)
	body["max_active_shoppers"] = 1
	r := one.call(http.MethodPost, "/api/v1/events", one.organizer(), body)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	ev := &store.Event{ID: body["id"].(string)}
	storetest.CleanRedis(t, one.rdb, ev.ID)

	var clients []*liveClient
	for i := range 4 {
		e := []*env{one, two}[i%2]
		token, _ := one.fan()
		r := e.call(http.MethodPost, "/api/v1/events/"+ev.ID+"/queue", token, nil)
		require.Equal(t, "lobby", r.JSON(t)["status"], "%s", r.Body)
		c := e.dialLive(t, ev.ID, token)
		c.await("lobby snapshot", func(m map[string]any) bool { return m["type"] == "queue.update" && m["status"] == "lobby" })
		clients = append(clients, c)
	}
	one.runController(t, ev.ID)
	two.runController(t, ev.ID)
	for _, c := range clients {
		// The first in the shuffled order is admitted at once; the others see a place.
		c.await("a place or an admission after the opening", func(m map[string]any) bool {
			return m["type"] == "queue.update" && m["position"] != nil || m["type"] == "session.admitted"
		})
	}
}
