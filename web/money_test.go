package web_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/store"
)

// pay starts a payment through the API and returns its answer.
func (e *env) pay(token string, body map[string]any) response {
	e.t.Helper()
	return e.call(http.MethodPost, "/api/v1/payments", token, body)
}

func (e *env) confirm(token, paymentID, card string, headers ...string) response {
	e.t.Helper()
	return e.call(http.MethodPost, "/api/v1/payments/"+paymentID+"/confirm", token, map[string]any{"card_number": card}, headers...)
}

func (e *env) reserve(token, eventID string, seats ...string) string {
	e.t.Helper()
	r := e.call(http.MethodPost, "/api/v1/tickets/reserve", token, reserveBody(eventID, "VIP", seats, 0))
	require.Equal(e.t, http.StatusCreated, r.Status, "%s", r.Body)
	return r.JSON(e.t)["reservation"].(map[string]any)["id"].(string)
}

// myPayments is the fan's payments by id.
func (e *env) myPayments(token string) map[string]map[string]any {
	e.t.Helper()
	r := e.call(http.MethodGet, "/api/v1/me/payments", token, nil)
	require.Equal(e.t, http.StatusOK, r.Status, "%s", r.Body)
	out := map[string]map[string]any{}
	for _, p := range r.JSON(e.t)["payments"].([]any) {
		m := p.(map[string]any)
		require.NotContains(e.t, m, "client_secret", "lists never carry a client secret")
		out[m["id"].(string)] = m
	}
	return out
}

// GET /me/payments lists the fan's own payments and what became of them.
func TestMyPayments(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.seatedEvent(5)
	ann := e.shopper(id)
	b := e.buy(ann, id, []string{"1A"})
	mine := e.myPayments(ann)
	require.Len(t, mine, 1)
	p := mine[b["payment_id"].(string)]
	require.Equal(t, "succeeded", p["status"])
	require.Equal(t, b["id"], p["booking_id"])
	require.Equal(t, b["reservation_id"], p["reservation_id"])
	require.Equal(t, "usd", p["currency"])
	require.Equal(t, "usd", b["currency"], "bookings carry their currency")
	require.EqualValues(t, 5000, p["amount_cents"])

	bob, _ := e.fan()
	require.Empty(t, e.myPayments(bob), "nobody sees another fan's payments")
	require.Equal(t, http.StatusUnauthorized, e.call(http.MethodGet, "/api/v1/me/payments", "", nil).Status)
}

// Two tabs, two payments for one reservation: the second create returns the
// first while it lives; after a decline a new one starts, and if both succeed
// (the declined one paid later with another card) the extra one is refunded by
// the server and booking with it answers 409 payment_mismatch.
func TestTwoPaymentsForOneReservationThroughTheAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.seatedEvent(5)
	ann := e.shopper(id)
	hold := e.reserve(ann, id, "1A")

	first := e.pay(ann, map[string]any{"reservation_id": hold})
	require.Equal(t, http.StatusCreated, first.Status, "%s", first.Body)
	firstID := first.JSON(t)["payment"].(map[string]any)["id"].(string)
	again := e.pay(ann, map[string]any{"reservation_id": hold})
	require.Equal(t, http.StatusOK, again.Status, "%s", again.Body)
	require.Equal(t, firstID, again.JSON(t)["payment"].(map[string]any)["id"])
	require.NotEmpty(t, again.JSON(t)["payment"].(map[string]any)["client_secret"])

	require.Equal(t, http.StatusPaymentRequired, e.confirm(ann, firstID, payments.CardDeclines).Status)
	second := e.pay(ann, map[string]any{"reservation_ids": []string{hold}})
	require.Equal(t, http.StatusCreated, second.Status, "%s", second.Body)
	secondID := second.JSON(t)["payment"].(map[string]any)["id"].(string)
	require.NotEqual(t, firstID, secondID)

	r := e.confirm(ann, secondID, payments.CardSucceeds)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.NotEmpty(t, r.JSON(t)["payment"].(map[string]any)["booking_id"], "paying books at once")
	r = e.confirm(ann, firstID, payments.CardSucceeds) // the other tab
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, "refunded", r.JSON(t)["payment"].(map[string]any)["status"])

	r = e.call(http.MethodPost, "/api/v1/tickets/book", ann, map[string]any{"reservation_id": hold, "payment_id": firstID})
	require.Equal(t, http.StatusConflict, r.Status, "%s", r.Body)
	require.Equal(t, "payment_mismatch", r.ErrorCode(t))
	r = e.call(http.MethodPost, "/api/v1/tickets/book", ann, map[string]any{"reservation_id": hold, "payment_id": secondID})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)

	mine := e.myPayments(ann)
	require.Equal(t, "refunded", mine[firstID]["status"])
	require.Equal(t, "succeeded", mine[secondID]["status"])
}

// Cancelling a reservation with a payment in progress, or leaving the line,
// stays allowed: a success that comes after is refunded, never kept.
func TestLeavingWithAPaymentInProgressRefunds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.seatedEvent(5)
	for _, leave := range []func(token, hold string) response{
		func(token, hold string) response {
			return e.call(http.MethodPost, "/api/v1/tickets/cancel", token, map[string]any{"reservation_id": hold})
		},
		func(token, _ string) response {
			return e.call(http.MethodDelete, "/api/v1/events/"+id+"/queue", token, nil)
		},
	} {
		ann := e.shopper(id)
		hold := e.reserve(ann, id, "2A")
		pay := e.pay(ann, map[string]any{"event_id": id}).JSON(t)["payment"].(map[string]any)["id"].(string)
		require.Equal(t, http.StatusOK, leave(ann, hold).Status)
		r := e.confirm(ann, pay, payments.CardSucceeds)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		require.Equal(t, "refunded", r.JSON(t)["payment"].(map[string]any)["status"])
		require.Equal(t, "RELEASED", e.call(http.MethodGet, "/api/v1/reservations/"+hold, ann, nil).JSON(t)["reservation"].(map[string]any)["status"])
	}
}

// One payment for everything a fan holds in the event: two VIP seats and two
// GA tickets, paid once, booked together, cancelled together.
func TestOnePaymentForSeveralReservations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.seatedEvent(5)
	ann := e.shopper(id)
	vip := e.reserve(ann, id, "1A", "1B")
	r := e.call(http.MethodPost, "/api/v1/tickets/reserve", ann, reserveBody(id, "GA", nil, 2))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	ga := r.JSON(t)["reservation"].(map[string]any)["id"].(string)

	r = e.pay(ann, map[string]any{"event_id": id})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	p := r.JSON(t)["payment"].(map[string]any)
	require.ElementsMatch(t, []any{vip, ga}, p["reservation_ids"])
	require.EqualValues(t, 4*5000, p["amount_cents"])
	r = e.confirm(ann, p["id"].(string), payments.CardSucceeds)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	bookingID := r.JSON(t)["payment"].(map[string]any)["booking_id"].(string)

	bookings := e.call(http.MethodGet, "/api/v1/me/bookings", ann, nil).JSON(t)["bookings"].([]any)
	require.Len(t, bookings, 1)
	require.Len(t, bookings[0].(map[string]any)["tickets"], 4)
	require.Equal(t, http.StatusGone, e.call(http.MethodGet, "/api/v1/events/"+id+"/queue", ann, nil).Status,
		"booked and holding nothing more: done shopping")

	r = e.call(http.MethodPost, "/api/v1/tickets/cancel", ann, map[string]any{"booking_id": bookingID})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	for _, h := range []string{vip, ga} {
		res := e.call(http.MethodGet, "/api/v1/reservations/"+h, ann, nil).JSON(t)["reservation"].(map[string]any)
		require.Equal(t, "CANCELLED", res["status"], "a cancelled booking's reservations say so")
	}
	var status string
	require.NoError(t, e.db.Pool().QueryRow(context.Background(), `SELECT status FROM payments WHERE id = $1`, p["id"]).Scan(&status))
	require.Equal(t, payments.StatusRefunded, status)
	ev, err := e.db.Event(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, ev.Capacity, ev.AvailableTickets, "every ticket back on sale")
}

// A replayed payment request answers with a client secret, though none is
// stored: the idempotency table never keeps one.
func TestPaymentReplaysKeepNoSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.seatedEvent(5)
	ann := e.shopper(id)
	hold := e.reserve(ann, id, "1A")
	key := store.NewID("key")
	first := e.call(http.MethodPost, "/api/v1/payments", ann, map[string]any{"reservation_id": hold}, "Idempotency-Key", key)
	require.Equal(t, http.StatusCreated, first.Status, "%s", first.Body)
	replay := e.call(http.MethodPost, "/api/v1/payments", ann, map[string]any{"reservation_id": hold}, "Idempotency-Key", key)
	require.Equal(t, http.StatusCreated, replay.Status, "%s", replay.Body)
	require.Equal(t, "true", replay.Header.Get("Idempotent-Replayed"))
	secret := first.JSON(t)["payment"].(map[string]any)["client_secret"].(string)
	require.Equal(t, secret, replay.JSON(t)["payment"].(map[string]any)["client_secret"])
	var stored []byte
	require.NoError(t, e.db.Pool().QueryRow(context.Background(), `SELECT body FROM idempotency_keys WHERE key = $1`, key).Scan(&stored))
	require.NotContains(t, string(stored), secret)
	require.NotContains(t, string(stored), "client_secret")
}
