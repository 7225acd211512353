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

	open := e.openEvent(5)
	r = e.call(http.MethodPost, "/api/v1/events/"+open+"/queue", token, nil).JSON(t)
	require.NotContains(t, r, "lobby_size")
}
