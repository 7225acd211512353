package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// shopper is a fan admitted to an event, ready to buy.
func (e *env) shopper(eventID string) string {
	e.t.Helper()
	token, _ := e.fan()
	path := "/api/v1/events/" + eventID + "/queue"
	require.Equal(e.t, http.StatusOK, e.call(http.MethodPost, path, token, nil).Status)
	e.admitAll(eventID)
	r := e.call(http.MethodGet, path, token, nil)
	require.Equal(e.t, "admitted", r.JSON(e.t)["status"], "%s", r.Body)
	return token
}

// admitAll runs admission steps until the line stops moving.
func (e *env) admitAll(eventID string) {
	e.t.Helper()
	ev, err := e.db.Event(context.Background(), eventID)
	require.NoError(e.t, err)
	e.step(ev)
}

func reserveBody(eventID, zone string, seats []string, qty int) map[string]any {
	b := map[string]any{"event_id": eventID, "zone_id": zone}
	if len(seats) > 0 {
		b["seats"] = seats
	} else {
		b["quantity"] = qty
	}
	return b
}

// buy reserves, pays with the test card and books; it returns the booking.
func (e *env) buy(token, eventID string, seats []string) map[string]any {
	e.t.Helper()
	r := e.call(http.MethodPost, "/api/v1/tickets/reserve", token, reserveBody(eventID, "VIP", seats, 0))
	require.Equal(e.t, http.StatusCreated, r.Status, "%s", r.Body)
	hold := r.JSON(e.t)["reservation"].(map[string]any)
	r = e.call(http.MethodPost, "/api/v1/payments", token, map[string]any{"reservation_id": hold["id"]})
	require.Equal(e.t, http.StatusCreated, r.Status, "%s", r.Body)
	pay := r.JSON(e.t)["payment"].(map[string]any)
	r = e.call(http.MethodPost, "/api/v1/payments/"+pay["id"].(string)+"/confirm", token, map[string]any{"card_number": "4242424242424242"})
	require.Equal(e.t, http.StatusOK, r.Status, "%s", r.Body)
	r = e.call(http.MethodPost, "/api/v1/tickets/book", token, map[string]any{"reservation_id": hold["id"], "payment_id": pay["id"]})
	require.Equal(e.t, http.StatusOK, r.Status, "%s", r.Body)
	return r.JSON(e.t)["booking"].(map[string]any)
}

func TestReservePayBookCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.seatedEvent(10)
	ann := e.shopper(id)

	b := e.buy(ann, id, []string{"1A", "1B"})
	require.Equal(t, "CONFIRMED", b["status"])
	require.Len(t, b["tickets"], 2)

	r := e.call(http.MethodGet, "/api/v1/me/bookings", ann, nil)
	require.Len(t, r.JSON(t)["bookings"], 1)
	require.Len(t, r.JSON(t)["bookings"].([]any)[0].(map[string]any)["tickets"], 2)
	r = e.call(http.MethodGet, "/api/v1/me/reservations", ann, nil)
	holds := r.JSON(t)["reservations"].([]any)
	require.Len(t, holds, 1)
	require.Equal(t, "BOOKED", holds[0].(map[string]any)["status"])
	require.Len(t, holds[0].(map[string]any)["tickets"], 2)
	seats := e.call(http.MethodGet, "/api/v1/events/"+id+"/zones/VIP/seats", "", nil).JSON(t)["seats"].([]any)
	require.Equal(t, "BOOKED", seats[0].(map[string]any)["status"])

	r = e.call(http.MethodPost, "/api/v1/tickets/cancel", ann, map[string]any{"booking_id": b["id"]})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	seats = e.call(http.MethodGet, "/api/v1/events/"+id+"/zones/VIP/seats", "", nil).JSON(t)["seats"].([]any)
	require.Equal(t, "AVAILABLE", seats[0].(map[string]any)["status"], "cancelled tickets are on sale again")
	var payment string
	require.NoError(t, e.db.Pool().QueryRow(context.Background(), `SELECT status FROM payments WHERE id = $1`, b["payment_id"]).Scan(&payment))
	require.Equal(t, payments.StatusRefunded, payment)
}

func TestReserveRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.seatedEvent(10)
	outsider, _ := e.fan()
	r := e.call(http.MethodPost, "/api/v1/tickets/reserve", outsider, reserveBody(id, "VIP", []string{"1A"}, 0))
	require.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
	require.Equal(t, "not_admitted", r.ErrorCode(t))

	ann := e.shopper(id)
	bob := e.shopper(id)
	r = e.call(http.MethodPost, "/api/v1/tickets/reserve", ann, reserveBody(id, "VIP", []string{"1A", "1B"}, 0))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	annHold := r.JSON(t)["reservation"].(map[string]any)["id"].(string)

	r = e.call(http.MethodPost, "/api/v1/tickets/reserve", bob, reserveBody(id, "VIP", []string{"1B", "1C"}, 0))
	require.Equal(t, http.StatusConflict, r.Status)
	require.Equal(t, "seat_taken", r.ErrorCode(t))
	require.Equal(t, []any{"1B"}, r.JSON(t)["error"].(map[string]any)["details"].(map[string]any)["seats"])

	r = e.call(http.MethodPost, "/api/v1/tickets/reserve", bob, map[string]any{"event_id": id, "zone_id": "VIP", "quantity": 7, "best_available": true})
	require.Equal(t, http.StatusConflict, r.Status)
	require.Equal(t, "limit_reached", r.ErrorCode(t))
	// Held and asked together count: Ann holds 2 of her 6.
	r = e.call(http.MethodPost, "/api/v1/tickets/reserve", ann, reserveBody(id, "GA", nil, 5))
	require.Equal(t, http.StatusConflict, r.Status, "%s", r.Body)
	require.Equal(t, "limit_reached", r.ErrorCode(t))

	// Bob can neither see, pay for nor cancel Ann's hold.
	require.Equal(t, http.StatusNotFound, e.call(http.MethodGet, "/api/v1/reservations/"+annHold, bob, nil).Status)
	require.Equal(t, http.StatusNotFound, e.call(http.MethodPost, "/api/v1/payments", bob, map[string]any{"reservation_id": annHold}).Status)
	require.Equal(t, http.StatusNotFound, e.call(http.MethodPost, "/api/v1/tickets/cancel", bob, map[string]any{"reservation_id": annHold}).Status)

	// Ann cannot book with an unpaid, declined or foreign payment.
	r = e.call(http.MethodPost, "/api/v1/payments", ann, map[string]any{"reservation_id": annHold})
	pay := r.JSON(t)["payment"].(map[string]any)["id"].(string)
	r = e.call(http.MethodPost, "/api/v1/tickets/book", ann, map[string]any{"reservation_id": annHold, "payment_id": pay})
	require.Equal(t, http.StatusPaymentRequired, r.Status)
	r = e.call(http.MethodPost, "/api/v1/payments/"+pay+"/confirm", ann, map[string]any{"card_number": "4000000000000002"})
	require.Equal(t, http.StatusPaymentRequired, r.Status)
	require.Equal(t, "card_declined", r.ErrorCode(t))
	r = e.call(http.MethodPost, "/api/v1/tickets/book", ann, map[string]any{"reservation_id": annHold, "payment_id": pay})
	require.Equal(t, http.StatusPaymentRequired, r.Status)

	r = e.call(http.MethodPost, "/api/v1/tickets/reserve", bob, reserveBody(id, "VIP", []string{"2A"}, 0))
	bobHold := r.JSON(t)["reservation"].(map[string]any)["id"].(string)
	r = e.call(http.MethodPost, "/api/v1/payments", bob, map[string]any{"reservation_id": bobHold})
	bobPay := r.JSON(t)["payment"].(map[string]any)["id"].(string)
	require.Equal(t, http.StatusOK, e.call(http.MethodPost, "/api/v1/payments/"+bobPay+"/confirm", bob, map[string]any{"card_number": "4242424242424242"}).Status)
	r = e.call(http.MethodPost, "/api/v1/tickets/book", ann, map[string]any{"reservation_id": annHold, "payment_id": bobPay})
	require.Equal(t, http.StatusNotFound, r.Status, "another fan's payment")

	// A bad request never reaches the inventory.
	r = e.call(http.MethodPost, "/api/v1/tickets/reserve", ann, map[string]any{"event_id": id, "zone_id": "VIP", "seats": []string{"9Z"}})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%s", r.Body)
	r = e.call(http.MethodPost, "/api/v1/tickets/reserve", ann, map[string]any{"event_id": id, "zone_id": "VIP", "seats": []string{"3A"}, "user_id": "usr_someone_else"})
	require.Equal(t, http.StatusForbidden, r.Status)
}

// stepLine runs one admission step the way the controller does, sell-out
// included.
func (e *env) stepLine(eventID string) {
	e.t.Helper()
	e.listing.add(eventID)
	ctl := queue.NewController(e.line, nil, e.sale.OnStep, slog.New(slog.NewTextHandler(io.Discard, nil)))
	// The sale reads the events on sale every 100 ms here: until it has read
	// this one, there is nothing to step.
	require.Eventually(e.t, func() bool {
		events, err := e.sale.Events(context.Background())
		require.NoError(e.t, err)
		for _, ev := range events {
			if ev.ID == eventID {
				ctl.Step(context.Background(), ev)
				return true
			}
		}
		return false
	}, 5*time.Second, 20*time.Millisecond)
}

// A tiny event: the line says sold_out and stops admitting once the last ticket
// is held, and admits again when the hold is released.
func TestSellOutPausesAndResumesTheLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := storetest.Organizer(t, e.db)
	ev := storetest.Event(t, e.db, u.ID, 2)
	storetest.CleanRedis(t, e.rdb, ev.ID)
	_, err := e.db.UpdateEvent(context.Background(), ev.ID, settingsMax(2))
	require.NoError(t, err)
	path := "/api/v1/events/" + ev.ID + "/queue"
	ann, bob, cat := e.fanJoins(path), e.fanJoins(path), e.fanJoins(path)
	watcher := e.dialLive(t, ev.ID, "")
	e.stepLine(ev.ID)
	require.Equal(t, "admitted", e.call(http.MethodGet, path, ann, nil).JSON(t)["status"])
	require.Equal(t, "admitted", e.call(http.MethodGet, path, bob, nil).JSON(t)["status"])

	r := e.call(http.MethodPost, "/api/v1/tickets/reserve", ann, reserveBody(ev.ID, "GA", nil, 2))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	hold := r.JSON(t)["reservation"].(map[string]any)["id"]
	require.Equal(t, http.StatusOK, e.call(http.MethodDelete, path, bob, nil).Status) // a slot frees up
	require.Eventually(t, func() bool {
		e.stepLine(ev.ID)
		return e.call(http.MethodGet, path, cat, nil).JSON(t)["status"] == "sold_out"
	}, 5*time.Second, 100*time.Millisecond)
	watcher.await("sold out for everyone", func(m map[string]any) bool { return m["sale_status"] == "sold_out" })
	e.stepLine(ev.ID)
	require.Equal(t, "sold_out", e.call(http.MethodGet, path, cat, nil).JSON(t)["status"], "nobody is admitted")

	require.Equal(t, http.StatusOK, e.call(http.MethodPost, "/api/v1/tickets/cancel", ann, map[string]any{"reservation_id": hold}).Status)
	require.Eventually(t, func() bool {
		e.stepLine(ev.ID)
		return e.call(http.MethodGet, path, cat, nil).JSON(t)["status"] == "admitted"
	}, 5*time.Second, 100*time.Millisecond)
	watcher.await("back on sale", func(m map[string]any) bool { return m["sale_status"] == "open" })
}

// fanJoins registers a fan who joins the line at path.
func (e *env) fanJoins(path string) string {
	e.t.Helper()
	token, _ := e.fan()
	require.Equal(e.t, http.StatusOK, e.call(http.MethodPost, path, token, nil).Status)
	return token
}

// A payment that succeeds after its hold expired is refunded, and no ticket is sold.
func TestLatePaymentIsRefunded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.seatedEvent(5)
	ann := e.shopper(id)
	r := e.call(http.MethodPost, "/api/v1/tickets/reserve", ann, reserveBody(id, "VIP", []string{"1A"}, 0))
	hold := r.JSON(t)["reservation"].(map[string]any)["id"].(string)
	r = e.call(http.MethodPost, "/api/v1/payments", ann, map[string]any{"reservation_id": hold})
	pay := r.JSON(t)["payment"].(map[string]any)["id"].(string)
	_, _, err := e.db.EndHold(context.Background(), hold, store.HoldExpired) // the hold runs out meanwhile
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, e.call(http.MethodPost, "/api/v1/payments/"+pay+"/confirm", ann, map[string]any{"card_number": "4242424242424242"}).Status)

	r = e.call(http.MethodPost, "/api/v1/tickets/book", ann, map[string]any{"reservation_id": hold, "payment_id": pay})
	require.Equal(t, http.StatusGone, r.Status, "%s", r.Body)
	var status string
	require.NoError(t, e.db.Pool().QueryRow(context.Background(), `SELECT status FROM payments WHERE id = $1`, pay).Scan(&status))
	require.Equal(t, payments.StatusRefunded, status)
	var bookings int
	require.NoError(t, e.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM holds WHERE id = $1 AND booking_id IS NOT NULL`, hold).Scan(&bookings))
	require.Zero(t, bookings)
}
