package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
	"github.com/boxofficehq/boxoffice/web"
)

// The fuzz targets below aim arbitrary bodies at the ticket flow (reserve, pay,
// confirm, book, cancel) and at Stripe's webhook, with the promises of
// fuzz_test.go: never a 5xx, always a JSON object, 4xx answers in the error
// envelope, and nothing already stored lost or changed by a refused request.
//
// Each target builds one fixture: an open event, a fan (the caller) admitted to
// it holding seats, and a second fan with a hold, a payment and a booking. Bodies
// name the fixture's ids through placeholders ($HOLD, $PAY, ...) replaced before
// each request, so seeds and crashers stay meaningful across runs and across the
// fixture's rebuilds: an input whose success changes the fixture (a booking, a
// cancellation, a paid payment) gets a fresh one for the next input. Fuzz one with
//
//	go test -run '^$' -fuzz '^FuzzReserve$' -fuzztime 45s -fuzzminimizetime 1s ./web/

// ticketFuzz is the server, fixture and bookkeeping of one ticket fuzz target.
type ticketFuzz struct {
	e      *env
	fe     *fuzzEnv
	stripe bool // payments are made in the store as Stripe's (the API cannot reach Stripe)

	organizer  string
	ann, annID string // the caller
	bob, bobID string // another fan

	event      string
	hold, pay  string // Ann: an active hold (VIP 1A) with a pending payment
	hold2      string // Ann: an active hold (VIP 1B) ...
	paid       string // ... whose payment succeeded (test provider only)
	booking    string // Ann: a confirmed booking (VIP 1C, test provider only)
	bobHold    string // Bob: an active hold (VIP 2A) with a pending payment
	bobPay     string
	bobBooking string // Bob: a confirmed booking (VIP 2B, test provider only)
	bobPaid    string // the payment of Bob's booking
	ref        string // provider refs of Ann's and Bob's pending payments (Stripe only)
	bobRef     string

	dirty bool // the last input changed the fixture: build a new one
}

// newTicketFuzz starts a server for a fuzz target, logging to a buffer, and
// builds the fixture.
func newTicketFuzz(tb testing.TB, stripe bool) *ticketFuzz {
	tb.Helper()
	lb := &logBuffer{}
	opts := []func(*web.Config){func(c *web.Config) { c.Log = slog.New(slog.NewTextHandler(lb, nil)) }}
	if stripe {
		s, err := payments.NewStripe(payments.StripeConfig{SecretKey: "sk_test_123", WebhookSecret: webhookSecret, APIBase: "http://127.0.0.1:9"})
		require.NoError(tb, err)
		opts = append(opts, func(c *web.Config) { c.Webhooks = s })
	}
	e := newEnv(tb, opts...)
	tf := &ticketFuzz{e: e, fe: &fuzzEnv{db: e.db, srv: e.srv, log: lb}, stripe: stripe}
	tf.organizer = storetest.Organizer(tb, e.db).ID
	tf.ann, tf.annID = e.fan()
	tf.bob, tf.bobID = e.fan()
	tf.build(tb)
	tb.Cleanup(func() { cleanInventory(e, tf.event) })
	return tf
}

// begin readies the fixture for one input run by t.
func (tf *ticketFuzz) begin(t testing.TB) {
	t.Helper()
	tf.e.t = t // inputs run one after another; env's helpers report to the current one
	if tf.dirty {
		tf.build(t)
	}
	tf.fe.log.take()
}

// build makes a new event and the fans' holds, payments and bookings in it.
func (tf *ticketFuzz) build(tb testing.TB) {
	tb.Helper()
	e := tf.e
	e.t = tb
	if tf.event != "" {
		cleanInventory(e, tf.event)
	}
	// As e.seatedEvent, without tying the event's Redis keys to the input's t.
	ev := storetest.Event(tb, e.db, tf.organizer, 10,
		store.Row{Row: "1", Seats: 4}, store.Row{Row: "2", Seats: 4}, store.Row{Row: "3", Seats: 4})
	_, err := e.db.UpdateEvent(context.Background(), ev.ID, settingsMax(100))
	require.NoError(tb, err)
	tf.event = ev.ID
	path := "/api/v1/events/" + tf.event + "/queue"
	for _, token := range []string{tf.ann, tf.bob} {
		require.Equal(tb, http.StatusOK, e.call(http.MethodPost, path, token, nil).Status)
	}
	e.admitAll(tf.event)
	for _, token := range []string{tf.ann, tf.bob} {
		r := e.call(http.MethodGet, path, token, nil)
		require.Equal(tb, "admitted", r.JSON(tb)["status"], "%s", r.Body)
	}
	if tf.stripe {
		tf.hold, tf.pay, tf.ref = tf.stripePayment(tb, tf.ann, tf.annID, "1A")
		tf.bobHold, tf.bobPay, tf.bobRef = tf.stripePayment(tb, tf.bob, tf.bobID, "2A")
	} else {
		tf.hold = tf.reserve(tb, tf.ann, "1A")
		tf.pay = tf.startPayment(tb, tf.ann, tf.hold)
		tf.hold2 = tf.reserve(tb, tf.ann, "1B")
		tf.paid = tf.startPayment(tb, tf.ann, tf.hold2)
		tf.confirm(tb, tf.ann, tf.paid)
		tf.booking = e.buy(tf.ann, tf.event, []string{"1C"})["id"].(string)
		tf.bobHold = tf.reserve(tb, tf.bob, "2A") // before the booking: a fan who books and holds nothing more leaves
		tf.bobPay = tf.startPayment(tb, tf.bob, tf.bobHold)
		b := e.buy(tf.bob, tf.event, []string{"2B"})
		tf.bobBooking, tf.bobPaid = b["id"].(string), b["payment_id"].(string)
	}
	tf.dirty = false
}

// cleanInventory deletes an event's keys in Redis.
func cleanInventory(e *env, eventID string) {
	ctx := context.Background()
	iter := e.rdb.Scan(ctx, 0, "ev:{"+eventID+"}:*", 1000).Iterator()
	for iter.Next(ctx) {
		e.rdb.Del(ctx, iter.Val())
	}
}

func (tf *ticketFuzz) reserve(tb testing.TB, token, seat string) string {
	tb.Helper()
	r := tf.e.call(http.MethodPost, "/api/v1/tickets/reserve", token, reserveBody(tf.event, "VIP", []string{seat}, 0))
	require.Equal(tb, http.StatusCreated, r.Status, "%s", r.Body)
	return r.JSON(tb)["reservation"].(map[string]any)["id"].(string)
}

func (tf *ticketFuzz) startPayment(tb testing.TB, token, hold string) string {
	tb.Helper()
	r := tf.e.call(http.MethodPost, "/api/v1/payments", token, map[string]any{"reservation_id": hold})
	require.Equal(tb, http.StatusCreated, r.Status, "%s", r.Body)
	return r.JSON(tb)["payment"].(map[string]any)["id"].(string)
}

func (tf *ticketFuzz) confirm(tb testing.TB, token, pay string) {
	tb.Helper()
	r := tf.e.call(http.MethodPost, "/api/v1/payments/"+pay+"/confirm", token, map[string]any{"card_number": payments.CardSucceeds})
	require.Equal(tb, http.StatusOK, r.Status, "%s", r.Body)
}

// stripePayment reserves a seat and records a pending Stripe payment for it, as
// the API would with Stripe reachable; it returns the hold, payment and ref.
func (tf *ticketFuzz) stripePayment(tb testing.TB, token, userID, seat string) (hold, pay, ref string) {
	tb.Helper()
	hold = tf.reserve(tb, token, seat)
	h, err := tf.e.db.Hold(context.Background(), hold)
	require.NoError(tb, err)
	p := payments.NewPayment(store.NewID("pay"), h.EventID, userID, "stripe", []string{hold}, h.AmountCents, "usd", time.Now())
	p.ProviderRef = store.NewID("pi")
	require.NoError(tb, tf.e.db.CreatePayment(context.Background(), p, time.Now()))
	return hold, p.ID, p.ProviderRef
}

// fill replaces the placeholders of an input with the fixture's ids.
func (tf *ticketFuzz) fill(b []byte) []byte {
	if !strings.Contains(string(b), "$") {
		return b
	}
	// Longer names first: at one position the first listed match wins.
	return []byte(strings.NewReplacer(
		"$BOBBOOKING", tf.bobBooking, "$BOBHOLD", tf.bobHold, "$BOBPAID", tf.bobPaid, "$BOBPAY", tf.bobPay,
		"$BOBREF", tf.bobRef, "$BOOKING", tf.booking, "$EVENT", tf.event, "$HOLD2", tf.hold2, "$HOLD", tf.hold,
		"$PAID", tf.paid, "$PAY", tf.pay, "$REF", tf.ref, "$ME", tf.annID, "$BOB", tf.bobID,
	).Replace(string(b)))
}

// fuzzState is what a refused request must leave as it was: the event's tickets
// in PostgreSQL and Redis, and every hold, payment and booking of it.
type fuzzState struct {
	Tickets, Inventory, Holds, Payments, Bookings string
}

func (tf *ticketFuzz) state(tb testing.TB) fuzzState {
	tb.Helper()
	ctx := context.Background()
	counts, err := tf.e.inv.Counts(ctx, tf.event)
	require.NoError(tb, err)
	return fuzzState{
		Tickets:   tf.rows(tb, `SELECT status, count(*) FROM tickets WHERE event_id = $1 GROUP BY 1 ORDER BY 1`),
		Inventory: fmt.Sprintf("%+v", counts),
		Holds: tf.rows(tb, `SELECT h.id, h.user_id, h.zone_id, h.status, h.amount_cents, h.expires_at, h.ended_at,
				(SELECT array_agg(t.ticket_id ORDER BY t.ticket_id) FROM hold_tickets t WHERE t.hold_id = h.id AND t.active)
			FROM holds h WHERE h.event_id = $1 ORDER BY h.id`),
		Payments: tf.rows(tb, `SELECT p.id, p.user_id, p.provider, p.provider_ref, p.amount_cents, p.status, p.refund_due,
				ARRAY(SELECT hold_id FROM payment_holds ph WHERE ph.payment_id = p.id ORDER BY ph.position)
			FROM payments p WHERE p.event_id = $1 ORDER BY p.id`),
		Bookings: tf.rows(tb, `SELECT b.id, b.user_id, b.payment_id, b.amount_cents, b.status, b.cancelled_at,
				ARRAY(SELECT id FROM holds h WHERE h.booking_id = b.id ORDER BY id)
			FROM bookings b WHERE b.event_id = $1 ORDER BY b.id`),
	}
}

// rows renders a query's rows about the fixture's event, one a line.
func (tf *ticketFuzz) rows(tb testing.TB, query string) string {
	tb.Helper()
	rows, err := tf.e.db.Pool().Query(context.Background(), query, tf.event)
	require.NoError(tb, err)
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		vals, err := rows.Values()
		require.NoError(tb, err)
		fmt.Fprintln(&b, vals...)
	}
	require.NoError(tb, rows.Err())
	return b.String()
}

// send makes one request of an input and checks the answer is sane; it returns
// the answer, its body decoded, and the state before and after.
func (tf *ticketFuzz) send(t testing.TB, method, path, token string, body []byte, header ...string) (fuzzAnswer, map[string]any, fuzzState, fuzzState) {
	t.Helper()
	before := tf.state(t)
	tf.fe.log.take()
	var r fuzzAnswer
	if len(header) == 0 {
		r = tf.fe.call(t, method, path, token, body)
	} else {
		r = tf.callWith(t, method, path, body, header[0], header[1])
	}
	m := tf.fe.requireSane(t, method+" "+path, body, r, func() string {
		after := tf.state(t)
		if after == before {
			return "nothing changed"
		}
		return fmt.Sprintf("the state changed:\nbefore: %+v\nafter:  %+v", before, after)
	})
	return r, m, before, tf.state(t)
}

// callWith sends body with one extra header and no token.
func (tf *ticketFuzz) callWith(t testing.TB, method, path string, body []byte, name, value string) fuzzAnswer {
	t.Helper()
	tf.e.t = t
	r := tf.e.call(method, path, "", body, name, value)
	return fuzzAnswer{Status: r.Status, ContentType: r.Header.Get("Content-Type"), Body: r.Body}
}

// requireUnchanged checks a refused request left the state as it was.
func requireUnchanged(t testing.TB, what string, body []byte, r fuzzAnswer, before, after fuzzState) {
	t.Helper()
	require.Equal(t, before, after, "%s answered %d %s and changed the state: body %q", what, r.Status, r.Body, body)
}

// requireOnlyPayments checks a refusal that may settle a payment (a declined
// card, a refund) touched nothing else.
func requireOnlyPayments(t testing.TB, what string, body []byte, r fuzzAnswer, before, after fuzzState) {
	t.Helper()
	before.Payments, after.Payments = "", ""
	requireUnchanged(t, what, body, r, before, after)
}

// errorCode is the code of an error envelope, or "".
func errorCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// object is the object m holds under key, or fails.
func object(t testing.TB, m map[string]any, key string, body []byte) map[string]any {
	t.Helper()
	o, ok := m[key].(map[string]any)
	require.True(t, ok, "no %q object in the answer to body %q: %v", key, body, m)
	return o
}

// Seeds of the shapes every ticket endpoint refuses the same way.
var ticketMalformedSeeds = []string{
	``,
	`null`,
	`[]`,
	`{}`,
	`"$HOLD"`,
	`12345678901234567890123456789`,
	`{"reservation_id":`,
	`{} {}`,
	"\xef\xbb\xbf{}",
	strings.Repeat(`{"x":`, 600) + `1` + strings.Repeat(`}`, 600),
}

func FuzzReserve(f *testing.F) {
	tf := newTicketFuzz(f, false)
	addSeeds(f, ticketMalformedSeeds)
	addSeeds(f, []string{
		`{"event_id":"$EVENT","zone_id":"VIP","seats":["3A"]}`,
		`{"event_id":"$EVENT","zone_id":"GA","quantity":2}`,
		`{"event_id":"$EVENT","zone_id":"VIP","quantity":2,"best_available":true}`,
		`{"event_id":"$EVENT","zone_id":"VIP","seats":["3A"],"user_id":"$ME"}`,
		`{"event_id":"$EVENT","zone_id":"VIP","seats":["3A"],"user_id":"$BOB"}`,
		`{"event_id":"$EVENT","zone_id":"VIP","seats":["1A"]}`,
		`{"event_id":"$EVENT","zone_id":"VIP","seats":["2A","3B"]}`,
		`{"event_id":"$EVENT","zone_id":"VIP","seats":["3A","3A"]}`,
		`{"event_id":"$EVENT","zone_id":"VIP","seats":["9Z"]}`,
		`{"event_id":"$EVENT","zone_id":"GA","quantity":-1}`,
		`{"event_id":"$EVENT","zone_id":"GA","quantity":0}`,
		`{"event_id":"$EVENT","zone_id":"GA","quantity":9223372036854775807}`,
		`{"event_id":"$EVENT","zone_id":"GA","quantity":1e999}`,
		`{"event_id":"$EVENT","zone_id":"GA","quantity":"2"}`,
		`{"event_id":"$EVENT","zone_id":"GA","quantity":1.5}`,
		`{"event_id":"$EVENT","zone_id":"VIP","seats":[` + strings.TrimSuffix(strings.Repeat(`"3A",`, 10000), ",") + `]}`,
		`{"event_id":"$EVENT","zone_id":"GA","seats":["3A"]}`,
		`{"event_id":"$EVENT","zone_id":"GA","quantity":1,"best_available":true}`,
		`{"event_id":"$EVENT","zone_id":"VIP","seats":"3A"}`,
		`{"event_id":"$EVENT","zone_id":"VIP","seats":[3]}`,
		`{"event_id":"$EVENT","zone_id":"VIP","seats":null,"quantity":null}`,
		`{"event_id":"$EVENT","zone_id":"NOPE","quantity":1}`,
		`{"event_id":"ev_unknown","zone_id":"GA","quantity":1}`,
		`{"event_id":"$EVENT","zone_id":"GA","quantity":1,"price_cents":0}`,
		`{"event_id":"$EVENT","zone_id":"VIP","seats":["3A\u0000"]}`,
		`{"event_id":"$EVENT\u0000","zone_id":"GA","quantity":1}`,
		`{"event_id":"$EVENT","zone_id":"VIP","seats":["Ряд 🎟️","東京"]}`,
		`{"event_id":"$EVENT","event_id":"ev_other","zone_id":"GA","quantity":1}`,
	})
	f.Fuzz(func(t *testing.T, raw []byte) {
		tf.begin(t)
		body := tf.fill(raw)
		const what = "POST /api/v1/tickets/reserve"
		r, m, before, after := tf.send(t, http.MethodPost, "/api/v1/tickets/reserve", tf.ann, body)
		if r.Status >= 300 {
			requireUnchanged(t, what, body, r, before, after)
			return
		}
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		hold := object(t, m, "reservation", body)
		require.Equal(t, tf.event, hold["event_id"], "body %q", body)
		id, _ := hold["id"].(string)
		require.NotEmpty(t, id, "body %q: %s", body, r.Body)
		h, err := tf.e.db.Hold(context.Background(), id)
		require.NoError(t, err, "body %q: %s", body, r.Body)
		require.Equal(t, tf.annID, h.UserID, "a reservation for someone else: body %q", body)
		// Give the tickets back, so the next input starts from the same stock.
		c := tf.fe.call(t, http.MethodPost, "/api/v1/tickets/cancel", tf.ann, []byte(`{"reservation_id":"`+id+`"}`))
		require.Equal(t, http.StatusOK, c.Status, "releasing the hold of body %q: %s", body, c.Body)
		released := tf.state(t)
		require.Equal(t, before.Tickets, released.Tickets, "reserving then releasing (body %q) did not give the tickets back", body)
		require.Equal(t, before.Inventory, released.Inventory, "reserving then releasing (body %q) did not give Redis' tickets back", body)
	})
}

func FuzzCreatePayment(f *testing.F) {
	tf := newTicketFuzz(f, false)
	addSeeds(f, ticketMalformedSeeds)
	addSeeds(f, []string{
		`{"reservation_id":"$HOLD"}`,
		`{"reservation_id":"$HOLD2"}`,
		`{"reservation_id":"$BOBHOLD"}`,
		`{"reservation_id":"$PAY"}`,
		`{"reservation_id":"$BOOKING"}`,
		`{"reservation_id":"hld_unknown"}`,
		`{"reservation_id":""}`,
		`{"reservation_id":null}`,
		`{"reservation_id":12345678901234567890}`,
		`{"reservation_id":["$HOLD"]}`,
		`{"reservation_id":{"id":"$HOLD"}}`,
		`{"reservation_id":"$HOLD","amount_cents":1}`,
		`{"reservation_id":"$HOLD","user_id":"$BOB"}`,
		`{"reservation_id":"$HOLD\u0000"}`,
		`{"reservation_id":"$HOLD ","reservation_id":"$BOBHOLD"}`,
		`{"reservation_id":"' OR 1=1 --"}`,
		`{"reservation_id":"Ряд 🎟️ 東京"}`,
		`{"reservation_id":"` + strings.Repeat("h", 10000) + `"}`,
	})
	f.Fuzz(func(t *testing.T, raw []byte) {
		tf.begin(t)
		body := tf.fill(raw)
		const what = "POST /api/v1/payments"
		r, m, before, after := tf.send(t, http.MethodPost, "/api/v1/payments", tf.ann, body)
		if r.Status >= 300 {
			requireUnchanged(t, what, body, r, before, after)
			return
		}
		p := object(t, m, "payment", body)
		id, _ := p["id"].(string)
		if r.Status == http.StatusOK {
			require.Equal(t, tf.pay, id, "answered 200 with a payment other than the one in progress: body %q: %s", body, r.Body)
		} else {
			require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		}
		stored, err := tf.e.db.Payment(context.Background(), id)
		require.NoError(t, err, "body %q: %s", body, r.Body)
		require.Equal(t, tf.annID, stored.UserID, "a payment for someone else: body %q", body)
		require.Contains(t, []any{tf.hold, tf.hold2}, p["reservation_id"], "a payment for a hold not Ann's: body %q: %s", body, r.Body)
		require.Equal(t, payments.StatusPending, p["status"], "body %q", body)
		require.Equal(t, before.Tickets, after.Tickets, "starting a payment (body %q) moved tickets", body)
		require.Equal(t, before.Holds, after.Holds, "starting a payment (body %q) changed a hold", body)
		require.Equal(t, before.Bookings, after.Bookings, "starting a payment (body %q) changed a booking", body)
	})
}

func FuzzConfirmPayment(f *testing.F) {
	tf := newTicketFuzz(f, false)
	for _, s := range ticketMalformedSeeds {
		f.Add("$PAY", []byte(s))
	}
	for _, s := range [][2]string{
		{"$PAY", `{"card_number":"4242424242424242"}`},
		{"$PAY", `{"card_number":"4000000000000002"}`},
		{"$PAID", `{"card_number":"4242424242424242"}`},
		{"$PAID", `{"card_number":"4000000000000002"}`},
		{"$BOBPAY", `{"card_number":"4242424242424242"}`},
		{"$BOBPAID", `{"card_number":"4000000000000002"}`},
		{"$HOLD", `{"card_number":"4242424242424242"}`},
		{"pay_unknown", `{"card_number":"4242424242424242"}`},
		{"$PAY", `{"card_number":"4242 4242 4242 4242"}`},
		{"$PAY", `{"card_number":"1111111111111111"}`},
		{"$PAY", `{"card_number":""}`},
		{"$PAY", `{"card_number":4242424242424242}`},
		{"$PAY", `{"card_number":null}`},
		{"$PAY", `{"card_number":["4242424242424242"]}`},
		{"$PAY", `{"card_number":"4242424242424242","user_id":"$BOB"}`},
		{"$PAY", `{"card_number":"4242424242424242","amount_cents":-1}`},
		{"$PAY", `{"card_number":"4242424242424242\u0000"}`},
		{"$PAY", `{"card_number":"٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢"}`},
		{"$PAY", `{"card_number":"` + strings.Repeat("4", 10000) + `"}`},
		{"$PAY\x00", `{"card_number":"4242424242424242"}`},
		{"../$PAY", `{"card_number":"4242424242424242"}`},
		{"Ряд 🎟️", `{"card_number":"4242424242424242"}`},
	} {
		f.Add(s[0], []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, rawID string, raw []byte) {
		tf.begin(t)
		id, body := string(tf.fill([]byte(rawID))), tf.fill(raw)
		if id == "" || id == "." || id == ".." {
			t.Skip("not a payment path")
		}
		path := "/api/v1/payments/" + url.PathEscape(id) + "/confirm"
		what := "POST " + path
		r, m, before, after := tf.send(t, http.MethodPost, path, tf.ann, body)
		switch {
		case r.Status == http.StatusPaymentRequired && errorCode(m) == "card_declined":
			// A declined card fails the payment, and nothing else.
			requireOnlyPayments(t, what, body, r, before, after)
			details, _ := object(t, m, "error", body)["details"].(map[string]any)
			pay, _ := details["payment_id"].(string)
			require.Equal(t, tf.pay, pay, "a card declined for a payment not Ann's pending one: id %q body %q: %s", id, body, r.Body)
			tf.dirty = before != after
		case r.Status >= 300:
			requireUnchanged(t, what+" (id "+id+")", body, r, before, after)
		default:
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			p := object(t, m, "payment", body)
			require.Contains(t, []any{tf.pay, tf.paid}, p["id"], "confirmed a payment not Ann's: id %q body %q: %s", id, body, r.Body)
			require.Equal(t, payments.StatusSucceeded, p["status"], "id %q body %q", id, body)
			if bid, _ := p["booking_id"].(string); bid != "" && p["id"] == tf.pay {
				// Paying books the payment's own hold, and nothing else.
				b, err := tf.e.db.Booking(context.Background(), bid)
				require.NoError(t, err)
				require.Equal(t, tf.annID, b.UserID)
				require.Equal(t, []string{tf.hold}, b.HoldIDs, "id %q body %q", id, body)
			} else {
				requireOnlyPayments(t, what, body, r, before, after)
			}
			tf.dirty = before != after
		}
	})
}

func FuzzBook(f *testing.F) {
	tf := newTicketFuzz(f, false)
	addSeeds(f, ticketMalformedSeeds)
	addSeeds(f, []string{
		`{"reservation_id":"$HOLD2","payment_id":"$PAID"}`,
		`{"payment_id":"$PAID"}`,
		`{"reservation_id":"$HOLD","payment_id":"$PAY"}`,
		`{"reservation_id":"$HOLD","payment_id":"$PAID"}`,
		`{"reservation_id":"$HOLD2","payment_id":"$PAY"}`,
		`{"reservation_id":"$BOBHOLD","payment_id":"$BOBPAY"}`,
		`{"reservation_id":"$HOLD2","payment_id":"$BOBPAID"}`,
		`{"payment_id":"$BOBPAID"}`,
		`{"reservation_id":"$BOOKING","payment_id":"$PAID"}`,
		`{"reservation_id":"hld_unknown","payment_id":"pay_unknown"}`,
		`{"reservation_id":"$HOLD2"}`,
		`{"reservation_id":"$HOLD2","payment_id":""}`,
		`{"reservation_id":"$HOLD2","payment_id":null}`,
		`{"reservation_id":1,"payment_id":2}`,
		`{"reservation_id":"$HOLD2","payment_id":["$PAID"]}`,
		`{"payment_id":"$PAID","event_id":"$EVENT","zone_id":"VIP","seats":["1B"]}`,
		`{"payment_id":"$PAID","event_id":"$EVENT","zone_id":"VIP","seats":[` + strings.TrimSuffix(strings.Repeat(`"1B",`, 10000), ",") + `]}`,
		`{"payment_id":"$PAID","user_id":"$BOB"}`,
		`{"payment_id":"$PAID\u0000"}`,
		`{"reservation_id":"$HOLD2\u0000","payment_id":"$PAID"}`,
		`{"payment_id":"Ряд 🎟️ 東京"}`,
		`{"payment_id":"$PAID","payment_id":"$BOBPAID"}`,
	})
	f.Fuzz(func(t *testing.T, raw []byte) {
		tf.begin(t)
		body := tf.fill(raw)
		const what = "POST /api/v1/tickets/book"
		r, m, before, after := tf.send(t, http.MethodPost, "/api/v1/tickets/book", tf.ann, body)
		switch {
		case r.Status == http.StatusGone && errorCode(m) == "reservation_expired":
			// Money that buys nothing goes back: the payment may be refunded.
			requireOnlyPayments(t, what, body, r, before, after)
			tf.dirty = before != after
		case r.Status >= 300:
			requireUnchanged(t, what, body, r, before, after)
		default:
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			b := object(t, m, "booking", body)
			require.Contains(t, []any{tf.paid}, b["payment_id"], "booked with a payment that did not succeed or is not Ann's: body %q: %s", body, r.Body)
			require.Equal(t, tf.hold2, b["reservation_id"], "booked a hold not paid for: body %q: %s", body, r.Body)
			tf.dirty = before != after
		}
	})
}

func FuzzCancel(f *testing.F) {
	tf := newTicketFuzz(f, false)
	addSeeds(f, ticketMalformedSeeds)
	addSeeds(f, []string{
		`{"reservation_id":"$HOLD"}`,
		`{"booking_id":"$BOOKING"}`,
		`{"reservation_id":"$BOBHOLD"}`,
		`{"booking_id":"$BOBBOOKING"}`,
		`{"reservation_id":"$HOLD","booking_id":"$BOOKING"}`,
		`{"reservation_id":"$BOOKING"}`,
		`{"booking_id":"$HOLD"}`,
		`{"reservation_id":"hld_unknown"}`,
		`{"booking_id":"bkg_unknown"}`,
		`{"reservation_id":"","booking_id":""}`,
		`{"reservation_id":null,"booking_id":"$BOOKING"}`,
		`{"reservation_id":123}`,
		`{"booking_id":["$BOOKING"]}`,
		`{"reservation_id":"$HOLD","user_id":"$BOB"}`,
		`{"booking_id":"$BOOKING","refund":false}`,
		`{"reservation_id":"$HOLD\u0000"}`,
		`{"booking_id":"$BOOKING\u0000"}`,
		`{"reservation_id":"Ряд 🎟️ 東京"}`,
		`{"reservation_id":"$BOBHOLD","reservation_id":"$HOLD"}`,
		`{"booking_id":"` + strings.Repeat("b", 10000) + `"}`,
	})
	f.Fuzz(func(t *testing.T, raw []byte) {
		tf.begin(t)
		body := tf.fill(raw)
		const what = "POST /api/v1/tickets/cancel"
		r, m, before, after := tf.send(t, http.MethodPost, "/api/v1/tickets/cancel", tf.ann, body)
		if r.Status >= 300 {
			requireUnchanged(t, what, body, r, before, after)
			return
		}
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		tf.dirty = true
		if h, ok := m["reservation"].(map[string]any); ok {
			require.Contains(t, []any{tf.hold, tf.hold2}, h["id"], "released a hold not Ann's: body %q: %s", body, r.Body)
			require.Equal(t, store.HoldReleased, h["status"], "body %q: %s", body, r.Body)
			return
		}
		b := object(t, m, "booking", body)
		require.Equal(t, tf.booking, b["id"], "cancelled a booking not Ann's: body %q: %s", body, r.Body)
	})
}

// stripeEvent is a webhook body of Stripe's shape; obj is the data object.
func stripeEvent(id, typ, obj string) string {
	return `{"id":"` + id + `","object":"event","api_version":"2023-10-16","type":"` + typ + `","created":1700000000,"data":{"object":` + obj + `}}`
}

func FuzzStripeWebhook(f *testing.F) {
	tf := newTicketFuzz(f, true)
	for i, s := range ticketMalformedSeeds {
		f.Add(i%2 == 0, []byte(s))
	}
	intent := func(ref string) string {
		return `{"id":"` + ref + `","object":"payment_intent","status":"succeeded","amount":5000,"metadata":{"payment_id":"$PAY"}}`
	}
	for _, s := range []string{
		stripeEvent("evt_ok", "payment_intent.succeeded", intent("$REF")),
		stripeEvent("evt_fail", "payment_intent.payment_failed", intent("$REF")),
		stripeEvent("evt_refund", "charge.refunded", `{"id":"ch_1","object":"charge","payment_intent":"$REF","amount":5000,"amount_refunded":5000,"refunded":true}`),
		stripeEvent("evt_part", "charge.refunded", `{"id":"ch_1","object":"charge","payment_intent":{"id":"$REF"},"amount":5000,"amount_refunded":1,"refunded":false}`),
		stripeEvent("evt_bob", "payment_intent.succeeded", intent("$BOBREF")),
		stripeEvent("evt_unknown", "payment_intent.succeeded", intent("pi_unknown")),
		stripeEvent("evt_empty", "payment_intent.succeeded", intent("")),
		stripeEvent("evt_other", "customer.created", `{"id":"cus_1","object":"customer"}`),
		stripeEvent("evt_null", "payment_intent.succeeded", `null`),
		stripeEvent("evt_types", "payment_intent.succeeded", `{"id":5000,"object":[],"amount":"x"}`),
		stripeEvent("evt_nul\\u0000", "payment_intent.succeeded", intent("$REF")),
		stripeEvent("evt_nulref", "payment_intent.succeeded", intent("$REF\\u0000")),
		stripeEvent("evt_🎟️", "payment_intent.succeeded", intent("pi_Ряд_東京")),
		stripeEvent("evt_huge", "charge.refunded", `{"id":"ch_1","object":"charge","payment_intent":"$REF","amount":1e999,"amount_refunded":99999999999999999999,"refunded":true}`),
		stripeEvent("", "payment_intent.succeeded", intent("$REF")),
		`{"id":"evt_x","type":"payment_intent.succeeded","data":{"object":{"id":"$REF"}},"unknown":true,"user_id":"$BOB"}`,
		`{"id":"evt_x","type":"payment_intent.succeeded"}`,
		`{"id":"evt_` + strings.Repeat("e", 10000) + `","type":"payment_intent.succeeded","data":{"object":{"id":"$REF"}}}`,
	} {
		f.Add(true, []byte(s))
	}
	for _, typ := range []string{"payment_intent.succeeded", "charge.refunded"} {
		f.Add(false, []byte(stripeEvent("evt_unsigned", typ, intent("$REF"))))
	}
	f.Fuzz(func(t *testing.T, signed bool, raw []byte) {
		tf.begin(t)
		body := tf.fill(raw)
		const path = "/api/v1/webhooks/stripe"
		what := "unsigned POST " + path
		var r fuzzAnswer
		var m map[string]any
		var before, after fuzzState
		if signed {
			what = "signed POST " + path
			sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: webhookSecret, Timestamp: time.Now()})
			r, m, before, after = tf.send(t, http.MethodPost, path, "", sp.Payload, "Stripe-Signature", sp.Header)
		} else {
			r, m, before, after = tf.send(t, http.MethodPost, path, "", body)
			require.Equal(t, http.StatusBadRequest, r.Status, "an unsigned webhook was not refused: body %q: %s", body, r.Body)
		}
		if r.Status >= 300 {
			require.Equal(t, "bad_signature", errorCode(m), "%s answered %d for body %q: %s", what, r.Status, body, r.Body)
			requireUnchanged(t, what, body, r, before, after)
			return
		}
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		require.Equal(t, true, m["received"], "%s: body %q: %s", what, body, r.Body)
		tf.dirty = before != after
	})
}
