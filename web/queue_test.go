package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// openEvent creates an event whose sale opened a minute ago, with a cap of max
// shoppers, and returns its id.
func (e *env) openEvent(max int) string {
	e.t.Helper()
	u := storetest.Organizer(e.t, e.db)
	ev := storetest.Event(e.t, e.db, u.ID, 5)
	_, err := e.db.UpdateEvent(context.Background(), ev.ID, settingsMax(max))
	require.NoError(e.t, err)
	storetest.CleanRedis(e.t, storetest.Redis(e.t), ev.ID)
	return ev.ID
}

func TestJoinQueueIsIdempotentAndPerFan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.openEvent(1)
	ann, _ := e.fan()
	bob, _ := e.fan()
	path := "/api/v1/events/" + id + "/queue"

	require.Equal(t, http.StatusUnauthorized, e.call(http.MethodPost, path, "", nil).Status)

	first := e.call(http.MethodPost, path, ann, nil)
	require.Equal(t, http.StatusOK, first.Status, "%s", first.Body)
	again := e.call(http.MethodPost, path, ann, nil)
	require.Equal(t, first.JSON(t)["join_id"], again.JSON(t)["join_id"])
	require.Equal(t, 1.0, again.JSON(t)["position"])
	require.Equal(t, 5.0, again.JSON(t)["tickets_left"])

	// Bob sees only his own place: none yet, and leaving does not touch Ann's.
	r := e.call(http.MethodGet, path, bob, nil)
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, "not_in_line", r.ErrorCode(t))
	require.Equal(t, http.StatusNotFound, e.call(http.MethodDelete, path, bob, nil).Status)
	require.Equal(t, http.StatusOK, e.call(http.MethodGet, path, ann, nil).Status)

	r = e.call(http.MethodPost, path, bob, nil)
	require.Equal(t, 2.0, r.JSON(t)["position"])
	require.Equal(t, 1.0, r.JSON(t)["ahead"])

	r = e.call(http.MethodDelete, path, ann, nil)
	require.Equal(t, http.StatusOK, r.Status)
	r = e.call(http.MethodGet, path, ann, nil)
	require.Equal(t, http.StatusGone, r.Status)
	require.Equal(t, "place_lost", r.ErrorCode(t))

	require.Equal(t, http.StatusNotFound, e.call(http.MethodPost, "/api/v1/events/nope-"+id+"/queue", ann, nil).Status)
}

func TestQueueClosedOutsideSale(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org := e.organizer()
	body := eventBody() // lobby opens in 2030
	require.Equal(t, http.StatusCreated, e.call(http.MethodPost, "/api/v1/events", org, body).Status)
	fan, _ := e.fan()
	r := e.call(http.MethodPost, "/api/v1/events/"+body["id"].(string)+"/queue", fan, nil)
	require.Equal(t, http.StatusConflict, r.Status)
	require.Equal(t, "line_closed", r.ErrorCode(t))
}

// The audit publishes the commitment from the first look on (the seed and the
// recomputation are tested in queue and by verify-shuffle).
func TestQueueAuditPublishesCommitment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.openEvent(1)
	r := e.call(http.MethodGet, "/api/v1/events/"+id+"/queue/audit", "", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Len(t, r.JSON(t)["commitment"], 64)
}

func TestStatsShowTheLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.openEvent(1)
	for range 3 {
		fan, _ := e.fan()
		require.Equal(t, http.StatusOK, e.call(http.MethodPost, "/api/v1/events/"+id+"/queue", fan, nil).Status)
	}
	r := e.call(http.MethodGet, "/api/v1/events/"+id+"/stats", e.organizer(), nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, 3.0, r.JSON(t)["stats"].(map[string]any)["queue_length"])
}

// A fan in the lobby sees how many wait there with them; once the line is
// open the number is gone (places say it all).
func TestLobbySize(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org := storetest.Organizer(t, e.db)
	opens, lobby, starts, five, price := time.Now().Add(time.Hour), time.Now().Add(-time.Minute), time.Now().Add(48*time.Hour), 5, int64(100)
	ev, err := e.db.CreateEvent(context.Background(), store.NewEvent{ID: store.NewID("ev"), Settings: store.Settings{
		Name: &[]string{"Lobby"}[0], SaleOpensAt: &opens, LobbyOpensAt: &lobby, StartsAt: &starts},
		Zones: []store.NewZone{{ID: "GA", Kind: inventory.Pool, Capacity: &five, PriceCents: &price}}}, org.ID)
	require.NoError(t, err)
	storetest.CleanRedis(t, e.rdb, ev.ID)
	path := "/api/v1/events/" + ev.ID + "/queue"
	for range 3 {
		token, _ := e.fan()
		require.Equal(t, http.StatusOK, e.call(http.MethodPost, path, token, nil).Status)
	}
	token, _ := e.fan()
	r := e.call(http.MethodPost, path, token, nil).JSON(t)
	require.Equal(t, "lobby", r["status"])
	require.Contains(t, r, "lobby_size")
	// The counts behind it are at most a quarter of a second old.
	require.Eventually(t, func() bool {
		return e.call(http.MethodGet, path, token, nil).JSON(t)["lobby_size"] == 4.0
	}, 5*time.Second, 50*time.Millisecond, "the fan and the three before")
	now := e.call(http.MethodGet, path+"/now", "", nil).JSON(t)
	require.Equal(t, "lobby", now["sale_status"])
	require.Equal(t, 4.0, now["lobby_size"], "the public reading has it too")

	open := e.openEvent(5)
	r = e.call(http.MethodPost, "/api/v1/events/"+open+"/queue", token, nil).JSON(t)
	require.NotContains(t, r, "lobby_size")
}

// GET …/queue/now is the same for everyone, needs no sign-in and may be cached
// for a second; with it, each fan's number gives the position, the wait and
// the outlook that the fan's own status call gives.
func TestQueueNowGivesEveryFanTheirPlace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.openEvent(1)
	path := "/api/v1/events/" + id + "/queue"
	var fans []string
	for range 4 {
		token, _ := e.fan()
		require.Equal(t, http.StatusOK, e.call(http.MethodPost, path, token, nil).Status)
		fans = append(fans, token)
	}
	ev, err := e.db.Event(context.Background(), id)
	require.NoError(t, err)
	e.step(ev) // admits the first fan
	require.Equal(t, "admitted", e.call(http.MethodGet, path, fans[0], nil).JSON(t)["status"])

	var now map[string]any
	require.Eventually(t, func() bool { // the replica's reading is at most 250 ms old
		r := e.call(http.MethodGet, path+"/now", "", nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		require.Equal(t, "public, max-age=1", r.Header.Get("Cache-Control"))
		now = r.JSON(t)
		return now["admitted"] == 1.0
	}, 5*time.Second, 20*time.Millisecond)
	require.Equal(t, "open", now["sale_status"])
	require.Equal(t, 5.0, now["tickets_left"])
	require.NotContains(t, now, "lobby_size")
	good, unlikely := now["good_until"].(float64), now["unlikely_from"].(float64)
	for i, token := range fans[1:] {
		mine := e.call(http.MethodGet, path, token, nil).JSON(t)
		require.Equal(t, "waiting", mine["status"])
		position := max(mine["number"].(float64)-now["admitted"].(float64), 1)
		require.Equal(t, float64(i+1), position)
		require.Equal(t, position, mine["position"], "fan %d", i)
		outlook := "uncertain"
		if position <= good {
			outlook = "good"
		} else if position >= unlikely {
			outlook = "unlikely"
		}
		require.Equal(t, outlook, mine["outlook"], "fan %d", i)
		require.Nil(t, mine["eta_seconds"], "fan %d: one step measures no rate yet, and the reading says so", i)
	}
	require.Zero(t, now["eta_rate"])
	require.Nil(t, e.call(http.MethodGet, path, fans[0], nil).JSON(t)["number"], "an admitted fan has no number to follow")

	withToken := e.call(http.MethodGet, path+"/now", fans[1], nil)
	require.Equal(t, http.StatusOK, withToken.Status)
	require.Equal(t, now["admitted"], withToken.JSON(t)["admitted"], "a signed-in fan reads the same")
	r := e.call(http.MethodGet, "/api/v1/events/nope-"+id+"/queue/now", "", nil)
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, "not_found", r.ErrorCode(t))
	require.Empty(t, r.Header.Get("Cache-Control"), "an error is not for caching")
}
