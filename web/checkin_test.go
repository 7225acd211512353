package web_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/store"
)

var codeShape = regexp.MustCompile(`^BX1-\d+-[A-Z2-7]{16}$`)

// codesOf maps each ticket id of a booking answer to its code.
func codesOf(t *testing.T, b map[string]any) map[float64]string {
	t.Helper()
	codes := map[float64]string{}
	for _, x := range b["tickets"].([]any) {
		tk := x.(map[string]any)
		code, _ := tk["code"].(string)
		codes[tk["id"].(float64)] = code
	}
	return codes
}

// Only the owner sees a ticket's code and QR code: on the booking answer, on
// GET /me/bookings and on a replay, which signs them anew rather than keep them.
func TestTicketCodesAreTheOwners(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.seatedEvent(10)
	ann := e.shopper(id)
	r := e.call(http.MethodPost, "/api/v1/tickets/reserve", ann, reserveBody(id, "VIP", []string{"1A", "1B"}, 0))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	hold := r.JSON(t)["reservation"].(map[string]any)["id"]
	r = e.call(http.MethodPost, "/api/v1/payments", ann, map[string]any{"reservation_id": hold})
	pay := r.JSON(t)["payment"].(map[string]any)["id"].(string)
	r = e.call(http.MethodPost, "/api/v1/payments/"+pay+"/confirm", ann, map[string]any{"card_number": "4242424242424242"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	book := map[string]any{"reservation_id": hold, "payment_id": pay}
	key := "book-" + pay
	r = e.call(http.MethodPost, "/api/v1/tickets/book", ann, book, "Idempotency-Key", key)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	b := r.JSON(t)["booking"].(map[string]any)
	codes := codesOf(t, b)
	require.Len(t, codes, 2)
	for _, code := range codes {
		require.Regexp(t, codeShape, code)
	}
	for _, x := range b["tickets"].([]any) {
		qr := x.(map[string]any)["qr"].(map[string]any)
		require.EqualValues(t, 33, qr["size"], "version 2 with its quiet zone")
		require.Regexp(t, `^(M\d+ \d+h\d+v1h-\d+z)+$`, qr["path"])
	}

	mine := e.call(http.MethodGet, "/api/v1/me/bookings", ann, nil).JSON(t)["bookings"].([]any)
	require.Equal(t, codes, codesOf(t, mine[0].(map[string]any)))

	replay := e.call(http.MethodPost, "/api/v1/tickets/book", ann, book, "Idempotency-Key", key)
	require.Equal(t, "true", replay.Header.Get("Idempotent-Replayed"))
	require.Equal(t, codes, codesOf(t, replay.JSON(t)["booking"].(map[string]any)))
	var stored []byte
	require.NoError(t, e.db.Pool().QueryRow(context.Background(),
		`SELECT body FROM idempotency_keys WHERE key = $1`, key).Scan(&stored))
	require.NotContains(t, string(stored), "BX1-", "the idempotency table keeps no code")
	require.Contains(t, string(stored), `"tickets"`)

	bob, _ := e.fan()
	theirs := e.call(http.MethodGet, "/api/v1/me/bookings", bob, nil)
	require.NotContains(t, string(theirs.Body), "BX1-")
	require.Equal(t, http.StatusNotFound, e.call(http.MethodPost, "/api/v1/tickets/cancel", bob, map[string]any{"booking_id": b["id"]}).Status)
}

func (e *env) checkIn(token, eventID, code string, headers ...string) response {
	e.t.Helper()
	return e.call(http.MethodPost, "/api/v1/events/"+eventID+"/checkins", token, map[string]any{"code": code}, headers...)
}

func TestCheckIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.seatedEvent(10)
	org := e.organizer()
	ann := e.shopper(id)
	b := e.buy(ann, id, []string{"2C", "2D"})
	var code string
	for _, c := range codesOf(t, b) {
		code = c
	}

	r := e.checkIn("", id, code)
	require.Equal(t, http.StatusUnauthorized, r.Status, "%s", r.Body)
	r = e.checkIn(ann, id, code)
	require.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
	require.Equal(t, "forbidden", r.ErrorCode(t))

	r = e.checkIn(org, id, code, "Idempotency-Key", "door-1-scan-1")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	ci := r.JSON(t)["checkin"].(map[string]any)
	require.Equal(t, "valid", ci["result"])
	ticket := ci["ticket"].(map[string]any)
	require.Equal(t, "VIP", ticket["zone_id"])
	require.Contains(t, []any{"2C", "2D"}, ticket["seat_id"])
	require.Equal(t, "Fan", ticket["holder_name"])
	require.Equal(t, b["id"], ticket["booking_id"])
	first := ci["checked_in_at"]
	require.NotEmpty(t, first)

	// A retry of the same scan is the same answer; another scan is not.
	r = e.checkIn(org, id, code, "Idempotency-Key", "door-1-scan-1")
	require.Equal(t, "true", r.Header.Get("Idempotent-Replayed"))
	require.Equal(t, "valid", r.JSON(t)["checkin"].(map[string]any)["result"])
	r = e.checkIn(org, id, strings.ToLower(code))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	ci = r.JSON(t)["checkin"].(map[string]any)
	require.Equal(t, "already_checked_in", ci["result"])
	require.Equal(t, first, ci["checked_in_at"])

	forged := code[:len(code)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(code, "A")]
	for _, give := range []string{forged, "BX1-1-AAAAAAAAAAAAAAAA", "hello", strings.Repeat("X", 5000), "BX1-\u0000"} {
		r = e.checkIn(org, id, give)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		require.Equal(t, map[string]any{"result": "invalid", "reason": "unknown"}, r.JSON(t)["checkin"], give)
	}
	other := e.seatedEvent(2)
	r = e.checkIn(org, other, code)
	require.Equal(t, map[string]any{"result": "invalid", "reason": "other_event"}, r.JSON(t)["checkin"])

	r = e.checkIn(org, id, "  ")
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Equal(t, "code", r.JSON(t)["error"].(map[string]any)["details"].(map[string]any)["field"])
	r = e.checkIn(org, "no-such-event", code)
	require.Equal(t, http.StatusNotFound, r.Status)

	// The fan sees when their ticket went in, and can no longer cancel.
	mine := e.call(http.MethodGet, "/api/v1/me/bookings", ann, nil).JSON(t)["bookings"].([]any)[0].(map[string]any)
	scanned := 0
	for _, x := range mine["tickets"].([]any) {
		if x.(map[string]any)["checked_in_at"] != nil {
			scanned++
		}
	}
	require.Equal(t, 1, scanned)
	r = e.call(http.MethodPost, "/api/v1/tickets/cancel", ann, map[string]any{"booking_id": b["id"]})
	require.Equal(t, http.StatusConflict, r.Status, "%s", r.Body)
	require.Equal(t, "checked_in", r.ErrorCode(t))
	var status string
	require.NoError(t, e.db.Pool().QueryRow(context.Background(), `SELECT status FROM bookings WHERE id = $1`, b["id"]).Scan(&status))
	require.Equal(t, store.BookingConfirmed, status)
}

func TestCancelledBookingsCodeIsInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.seatedEvent(10)
	org := e.organizer()
	ann := e.shopper(id)
	b := e.buy(ann, id, []string{"3A"})
	code := codesOf(t, b)[b["tickets"].([]any)[0].(map[string]any)["id"].(float64)]
	r := e.call(http.MethodPost, "/api/v1/tickets/cancel", ann, map[string]any{"booking_id": b["id"]})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.NotContains(t, string(r.Body), "BX1-", "a cancelled booking shows no codes")
	r = e.checkIn(org, id, code)
	require.Equal(t, map[string]any{"result": "invalid", "reason": "cancelled"}, r.JSON(t)["checkin"])
}

// Twenty doors scan one ticket through the API at once: exactly one says
// valid (store's and door's tests race fifty on PostgreSQL itself).
func TestCheckInAtManyDoorsThroughTheAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.seatedEvent(10)
	org := e.organizer()
	b := e.buy(e.shopper(id), id, []string{"1A"})
	code := codesOf(t, b)[b["tickets"].([]any)[0].(map[string]any)["id"].(float64)]
	const doors = 20
	var (
		wg      sync.WaitGroup
		results = make([]string, doors)
		start   = make(chan struct{})
	)
	for i := range doors {
		wg.Go(func() {
			<-start
			r := e.checkIn(org, id, code)
			results[i], _ = r.JSON(t)["checkin"].(map[string]any)["result"].(string)
		})
	}
	close(start)
	wg.Wait()
	count := map[string]int{}
	for _, r := range results {
		count[r]++
	}
	require.Equal(t, map[string]int{"valid": 1, "already_checked_in": doors - 1}, count)
}
