package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// stats reads the organizer's stats of an event.
func (e *env) stats(org, eventID string) map[string]any {
	e.t.Helper()
	r := e.call(http.MethodGet, "/api/v1/events/"+eventID+"/stats", org, nil)
	require.Equal(e.t, http.StatusOK, r.Status, "%s", r.Body)
	return r.JSON(e.t)["stats"].(map[string]any)
}

// A paused event admits nobody, whatever room there is, through the replica's
// own admission loop on real Redis and PostgreSQL; resuming admits the line
// again, and places are kept meanwhile.
func TestPauseStopsAdmissions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.openEvent(5)
	org := e.organizer()
	e.runController(t, id)
	path := "/api/v1/events/" + id + "/queue"
	status := func(token string) string { return e.call(http.MethodGet, path, token, nil).JSON(t)["status"].(string) }

	ann := e.fanJoins(path)
	require.Eventually(t, func() bool { return status(ann) == "admitted" }, 5*time.Second, 20*time.Millisecond,
		"the loop admits while not paused")

	patch := func(paused bool) {
		r := e.call(http.MethodPatch, "/api/v1/events/"+id, org, map[string]any{"paused": paused})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		require.Equal(t, paused, r.JSON(t)["event"].(map[string]any)["paused"])
		require.Equal(t, paused, e.call(http.MethodGet, "/api/v1/events/"+id, "", nil).JSON(t)["event"].(map[string]any)["paused"])
		require.Equal(t, paused, e.stats(org, id)["paused"])
		// The loop reads the events on sale every 100 ms here (2 s in serve).
		require.Eventually(t, func() bool {
			events, err := e.sale.Events(context.Background())
			require.NoError(t, err)
			for _, ev := range events {
				if ev.ID == id {
					return ev.Paused == paused
				}
			}
			return false
		}, 5*time.Second, 20*time.Millisecond, "the admission loop sees paused=%v", paused)
	}
	patch(true)
	bob, cat := e.fanJoins(path), e.fanJoins(path)
	// Four slots are free; at 50 ms a step, a second is twenty steps that
	// would each have admitted them.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		require.Equal(t, "waiting", status(bob))
		require.Equal(t, "waiting", status(cat))
		time.Sleep(50 * time.Millisecond)
	}
	st := e.stats(org, id)
	require.Equal(t, 1.0, st["admitted"], "nobody admitted while paused")
	require.Equal(t, 2.0, st["queue_length"])
	require.Equal(t, "admitted", status(ann), "a fan already shopping goes on")

	patch(false)
	require.Eventually(t, func() bool { return status(bob) == "admitted" && status(cat) == "admitted" },
		5*time.Second, 20*time.Millisecond, "resuming admits the line again")
	require.Equal(t, 3.0, e.stats(org, id)["admitted"])
}

// Revenue is the sum of the confirmed bookings' amounts: a cancelled booking
// leaves it, and so does a hold not yet paid.
func TestStatsCountRevenue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.seatedEvent(10)
	org := e.organizer()
	st := e.stats(org, id)
	require.Equal(t, 0.0, st["revenue_cents"])
	require.Equal(t, 0.0, st["bookings"])
	require.Equal(t, false, st["paused"])
	require.Equal(t, 0.0, st["lobby_size"])

	ann, bob, cat := e.shopper(id), e.shopper(id), e.shopper(id)
	one := e.buy(ann, id, []string{"1A", "1B"})
	two := e.buy(bob, id, []string{"2A"})
	r := e.call(http.MethodPost, "/api/v1/tickets/reserve", cat, reserveBody(id, "VIP", []string{"3A"}, 0))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body) // held, not paid
	want := one["amount_cents"].(float64) + two["amount_cents"].(float64)
	require.Equal(t, 15000.0, want, "three seats at 50.00")
	st = e.stats(org, id)
	require.Equal(t, want, st["revenue_cents"])
	require.Equal(t, 2.0, st["bookings"])

	r = e.call(http.MethodPost, "/api/v1/tickets/cancel", ann, map[string]any{"booking_id": one["id"]})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	st = e.stats(org, id)
	require.Equal(t, two["amount_cents"], st["revenue_cents"])
	require.Equal(t, 1.0, st["bookings"])
}
