package web_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// The live feed carries every change a page needs (issue 9, items 7 to 11).

// A fan who opens the live connection before joining, as a page does, gets
// their place once they join (on whichever instance) and sees it move.
func TestLivePlaceOfAFanConnectedBeforeJoining(t *testing.T) {
	t.Parallel()
	one, two := newEnv(t), newEnv(t)
	id := one.openEvent(1)
	path := "/api/v1/events/" + id + "/queue"
	ann := one.fanJoins(path)
	one.runController(t, id)
	two.runController(t, id)
	require.Eventually(t, func() bool { return one.call(http.MethodGet, path, ann, nil).JSON(t)["status"] == "admitted" },
		10*time.Second, 50*time.Millisecond)

	bob, _ := one.fan()
	cat, _ := one.fan()
	bobLive := two.dialLive(t, id, bob)
	catLive := one.dialLive(t, id, cat)
	bobLive.await("the end of bob's snapshot", isType("sale.update"))
	catLive.await("the end of cat's snapshot", isType("sale.update"))

	require.Equal(t, http.StatusOK, one.call(http.MethodPost, path, bob, nil).Status)
	bobLive.await("bob's place", position(1))
	require.Equal(t, http.StatusOK, two.call(http.MethodPost, path, cat, nil).Status)
	catLive.await("cat's place", position(2))

	// Ann is done: Bob's open connection claims his admission, Cat moves up.
	require.Equal(t, http.StatusOK, one.call(http.MethodDelete, path, ann, nil).Status)
	bobLive.await("bob's admission", isType("session.admitted"))
	catLive.await("cat moving to 1", position(1))
}

func saleStatus(want string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["type"] == "sale.update" && m["sale_status"] == want }
}

// Watchers on two instances see every sale status in turn as the clock passes
// the lobby's opening, the sale's opening and the show's start.
func TestLiveSaleStatusFollowsTheClock(t *testing.T) {
	t.Parallel()
	one, two := newEnv(t), newEnv(t)
	now := time.Now().UTC()
	body := eventBody()
	body["lobby_opens_at"] = now.Add(2 * time.Second).Format(time.RFC3339Nano)
	body["sale_opens_at"] = now.Add(4 * time.Second).Format(time.RFC3339Nano)
	body["starts_at"] = now.Add(6 * time.Second).Format(time.RFC3339Nano)
	r := one.call(http.MethodPost, "/api/v1/events", one.organizer(), body)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	id := body["id"].(string)
	storetest.CleanRedis(t, one.rdb, id)

	watchers := []*liveClient{one.dialLive(t, id, ""), two.dialLive(t, id, "")}
	for _, w := range watchers {
		w.await("scheduled in the snapshot", saleStatus("scheduled"))
	}
	one.runController(t, id)
	two.runController(t, id)
	for _, want := range []string{"lobby", "open", "closed"} {
		for _, w := range watchers {
			w.await(want, saleStatus(want))
		}
	}
}

// reservationStatus is the status of one of the fan's reservations.
func (e *env) reservationStatus(token, holdID string) string {
	e.t.Helper()
	r := e.call(http.MethodGet, "/api/v1/reservations/"+holdID, token, nil)
	require.Equal(e.t, http.StatusOK, r.Status, "%s", r.Body)
	return r.JSON(e.t)["reservation"].(map[string]any)["status"].(string)
}

// Leaving ends the shopping session: its holds go back on sale and the fan's
// tabs, on any instance, hear session.expired with the reason.
func TestLiveSessionEndsWhenTheFanLeaves(t *testing.T) {
	t.Parallel()
	e, other := newEnv(t), newEnv(t)
	id := e.seatedEvent(5)
	ann := e.shopper(id)
	annLive := other.dialLive(t, id, ann)
	adm := annLive.await("the session in the snapshot", isType("session.admitted"))
	hold := e.reserve(ann, id, "2A")

	require.Equal(t, http.StatusOK, e.call(http.MethodDelete, "/api/v1/events/"+id+"/queue", ann, nil).Status)
	m := annLive.await("the session's end", isType("session.expired"))
	require.Equal(t, adm["session_id"], m["session_id"])
	require.Equal(t, "left", m["reason"])
	require.Equal(t, store.HoldReleased, e.reservationStatus(ann, hold))
}

// A fan who has booked and holds nothing more is done: the session ends and
// the fan's tabs, on any instance, hear it.
func TestLiveSessionEndsWhenTheFanHasBooked(t *testing.T) {
	t.Parallel()
	e, other := newEnv(t), newEnv(t)
	id := e.seatedEvent(5)
	ann := e.shopper(id)
	annLive := other.dialLive(t, id, ann)
	adm := annLive.await("the session in the snapshot", isType("session.admitted"))

	e.buy(ann, id, []string{"1A"})
	m := annLive.await("the session's end", isType("session.expired"))
	require.Equal(t, adm["session_id"], m["session_id"])
	require.Equal(t, "booked", m["reason"])
	require.Equal(t, http.StatusGone, e.call(http.MethodGet, "/api/v1/events/"+id+"/queue", ann, nil).Status, "the slot is free")
}

// A session whose time runs out ends by itself: unpaid holds expire and the
// fan's tabs hear session.expired with the reason.
func TestLiveSessionEndsWhenTimeRunsOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.seatedEvent(5)
	hold := 2
	_, err := e.db.UpdateEvent(context.Background(), id, store.Settings{HoldSeconds: &hold})
	require.NoError(t, err)
	ann := e.shopper(id)
	annLive := e.dialLive(t, id, ann)
	adm := annLive.await("the session in the snapshot", isType("session.admitted"))
	holdID := e.reserve(ann, id, "3A")

	e.runController(t, id)
	m := annLive.await("the session's end", isType("session.expired"))
	require.Equal(t, adm["session_id"], m["session_id"])
	require.Equal(t, "timed_out", m["reason"])
	require.Equal(t, store.HoldExpired, e.reservationStatus(ann, holdID))
}

// With every ticket held nothing is on sale: GET /events/{id} (within its
// cache's second) and the live feed both say sold_out, and both say open again
// when a hold is released.
func TestSaleStatusAgreesInRESTAndLive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := storetest.Organizer(t, e.db)
	ev := storetest.Event(t, e.db, u.ID, 2)
	storetest.CleanRedis(t, e.rdb, ev.ID)
	_, err := e.db.UpdateEvent(context.Background(), ev.ID, settingsMax(2))
	require.NoError(t, err)
	ann := e.shopper(ev.ID)
	watcher := e.dialLive(t, ev.ID, "")
	watcher.await("the snapshot", saleStatus("open"))
	e.runController(t, ev.ID)

	r := e.call(http.MethodPost, "/api/v1/tickets/reserve", ann, reserveBody(ev.ID, "GA", nil, 2))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	holdID := r.JSON(t)["reservation"].(map[string]any)["id"]
	watcher.await("sold out live", saleStatus("sold_out"))
	path := "/api/v1/events/" + ev.ID
	// The REST answer comes from the replica's event cache: within its second.
	event := func() map[string]any { return e.call(http.MethodGet, path, "", nil).JSON(t)["event"].(map[string]any) }
	require.Eventually(t, func() bool { return event()["sale_status"] == "sold_out" }, 2*time.Second, 50*time.Millisecond)
	got := event()
	zone := got["zones"].([]any)[0].(map[string]any)
	require.Equal(t, []any{0.0, 2.0, 0.0}, []any{zone["available_tickets"], zone["reserved_tickets"], zone["booked_tickets"]},
		"the counts the status is from: the hold is in them")

	require.Equal(t, http.StatusOK, e.call(http.MethodPost, "/api/v1/tickets/cancel", ann, map[string]any{"reservation_id": holdID}).Status)
	watcher.await("open again live", saleStatus("open"))
	require.Eventually(t, func() bool { return event()["sale_status"] == "open" }, 2*time.Second, 50*time.Millisecond)
}

// Fans admitted but not yet claimed show in the organizer's stats, so the
// line does not look stuck while they are on their way.
func TestStatsShowPendingAdmissions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.openEvent(2)
	path := "/api/v1/events/" + id + "/queue"
	ann := e.fanJoins(path)
	e.fanJoins(path)
	e.fanJoins(path)
	e.admitAll(id)
	stats := func() map[string]any {
		r := e.call(http.MethodGet, "/api/v1/events/"+id+"/stats", e.organizer(), nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		return r.JSON(t)["stats"].(map[string]any)
	}
	s := stats()
	require.Equal(t, 2.0, s["pending_admissions"])
	require.Equal(t, 0.0, s["active_shoppers"])
	require.Equal(t, 1.0, s["queue_length"])

	require.Equal(t, "admitted", e.call(http.MethodGet, path, ann, nil).JSON(t)["status"]) // claims
	s = stats()
	require.Equal(t, 1.0, s["pending_admissions"])
	require.Equal(t, 1.0, s["active_shoppers"])
}

// A WebSocket from another site's page is refused with the error envelope;
// the same origin is let in.
func TestLiveRefusesOtherOrigins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.openEvent(1)
	url := strings.Replace(e.srv.URL, "http://", "ws://", 1) + "/api/v1/events/" + id + "/live"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	_, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
	require.Error(t, err)
	require.NotNil(t, resp)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "application/json")
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "forbidden", response{Status: resp.StatusCode, Body: body}.ErrorCode(t), "%s", body)

	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {e.srv.URL}}})
	require.NoError(t, err)
	conn.Close(websocket.StatusNormalClosure, "")
}
