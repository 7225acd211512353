package rehearse

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"
)

// plan is what a fan means to do once it holds tickets.
type plan int

const (
	planBuy plan = iota
	planAbandon
	planReleaseHold
	planCancelBooking
)

// The test provider's card that succeeds.
const testCard = "4242424242424242"

// fan is one simulated browser. Its choices come from its own random source,
// seeded from the run's seed and its number.
type fan struct {
	r      *run
	n      int
	rng    *rand.Rand
	obs    int // observer index for the delays, or -1
	email  string
	token  string
	want   int  // tickets wanted
	named  bool // picks named seats from the seat map in a seated zone (else best available)
	plan   plan
	double bool // sends each write twice at once...
	oneKey bool // ...with one Idempotency-Key (else two)
	sock   *socket
	// The fan's connections, from its source address (Config.Sources).
	api    *client
	wsHTTP *http.Client
}

var errLiveLost = errors.New("the live feed could not reconnect")

// hold is one reservation the fan holds.
type hold struct {
	id      string
	zone    string
	seats   []string
	tickets int
}

type authAnswer struct {
	Token string `json:"token"`
}

func (f *fan) signIn(ctx context.Context) error {
	a, err := f.api.do(ctx, request{method: http.MethodPost, route: "POST /api/v1/auth/login", path: "/api/v1/auth/login",
		body: map[string]string{"email": f.email, "password": f.r.cfg.Password}, key: newKey()})
	if err != nil {
		return err
	}
	return f.takeToken(a)
}

func (f *fan) signUp(ctx context.Context, pace *pacer) error {
	if err := pace.wait(ctx); err != nil {
		return err
	}
	a, err := f.api.do(ctx, request{method: http.MethodPost, route: "POST /api/v1/users", path: "/api/v1/users",
		body: map[string]string{"name": fmt.Sprintf("Rehearsal fan %d", f.n), "email": f.email, "password": f.r.cfg.Password},
		key:  newKey()})
	if err != nil {
		return err
	}
	return f.takeToken(a)
}

func (f *fan) takeToken(a *answer) error {
	var auth authAnswer
	if err := a.decode(&auth); err != nil {
		return err
	}
	if auth.Token == "" {
		return errors.New("no token in the answer")
	}
	f.token = auth.Token
	return nil
}

// account signs the fan in, or up, whichever the accounts made so far call
// for; reused says it signed in to an account made before.
func (f *fan) account(ctx context.Context, existing bool, pace *pacer) (reused bool, err error) {
	if existing {
		err := f.signIn(ctx)
		if codeOf(err) != "bad_credentials" {
			return err == nil, err
		}
		if err = f.signUp(ctx, pace); codeOf(err) == "email_taken" {
			return false, errors.New("the account exists with another password than -password")
		}
		return false, err
	}
	err = f.signUp(ctx, pace)
	if codeOf(err) == "email_taken" {
		return true, f.signIn(ctx)
	}
	return false, err
}

// visits bounds how often a fan whose shopping window ran out with nothing
// bought goes back to the line, as a keen fan does.
const visits = 3

// visit is the fan's on-sale: live feed, line, admission, shopping. It
// returns how it ended (Report.Outcomes).
func (f *fan) visit(ctx context.Context) string {
	r := f.r
	defer r.finished.Add(1)
	f.sock = r.newSocket(f.token, f.obs, f.wsHTTP)
	if err := f.sock.open(ctx); err != nil {
		return f.gaveUp(ctx, "live", err, false)
	}
	defer f.sock.close()
	select {
	case <-r.lineUp:
	case <-ctx.Done():
		return "waiting"
	}
	for n := 1; ; n++ {
		if out := f.queueUp(ctx); out != "" {
			return out
		}
		r.shopping.Add(1)
		out := f.shop(ctx)
		r.shopping.Add(-1)
		switch out {
		case "sold_out", "gave_up", "limit_reached":
			// The page has nothing to sell this fan: it leaves, and the next fan
			// in line gets the slot without waiting for the session to run out.
			_ = f.leave(ctx)
		case "session_ended":
			if n < visits && ctx.Err() == nil {
				continue // a new place at the back
			}
		}
		return out
	}
}

// queueUp joins the line and waits until the feed says the fan is admitted
// ("" then), the sale is over, or the run ends.
func (f *fan) queueUp(ctx context.Context) string {
	r := f.r
	r.waiting.Add(1)
	defer r.waiting.Add(-1)
	if out := f.join(ctx); out != "" {
		return out
	}
	joined := r.since()
	for {
		v := f.sock.view()
		if v.session != "" {
			break
		}
		if v.closed { // the feed gave up reconnecting
			return f.gaveUp(ctx, "live", errLiveLost, false)
		}
		if v.rejoin { // the feed reconnected: make sure of the place, as the page does
			if out := f.join(ctx); out != "" {
				return out
			}
		}
		if err := f.sock.wait(ctx, r.over); err != nil {
			if errors.Is(err, errSaleOver) {
				return "sold_out"
			}
			return "waiting"
		}
	}
	r.admitted(r.since() - joined)
	return ""
}

// leave ends the fan's place or shopping session (DELETE …/queue).
func (f *fan) leave(ctx context.Context) error {
	_, err := f.api.do(ctx, request{method: http.MethodDelete, route: "DELETE /api/v1/events/{id}/queue",
		path: f.eventPath("/queue"), token: f.token, key: newKey()})
	return err
}

// gaveUp is the outcome of an error the fan cannot get past.
func (f *fan) gaveUp(ctx context.Context, what string, err error, admitted bool) string {
	if ctx.Err() != nil {
		if admitted {
			return "interrupted"
		}
		return "waiting"
	}
	f.r.failure(what + ": " + err.Error())
	return "failed"
}

func (f *fan) eventPath(suffix string) string {
	return "/api/v1/events/" + url.PathEscape(f.r.cfg.EventID) + suffix
}

// join takes (or confirms) the fan's place; "" when it has one.
func (f *fan) join(ctx context.Context) string {
	for {
		f.sock.joining()
		_, err := f.api.do(ctx, request{method: http.MethodPost, route: "POST /api/v1/events/{id}/queue",
			path: f.eventPath("/queue"), token: f.token, key: newKey()})
		if err == nil {
			return ""
		}
		if codeOf(err) != "line_closed" || f.sock.view().sale == "closed" {
			return f.gaveUp(ctx, "join", err, false)
		}
		// Not open yet: the feed says when it is.
		if err := f.sock.wait(ctx, nil); err != nil {
			return "waiting"
		}
	}
}

// shop holds tickets, then pays, releases, cancels or walks away, as planned.
func (f *fan) shop(ctx context.Context) string {
	r := f.r
	var holds []hold
	for refused := 0; len(holds) == 0; {
		v := f.sock.view()
		if v.closed {
			return f.gaveUp(ctx, "live", errLiveLost, true)
		}
		if v.session == "" {
			return "session_ended"
		}
		z, left := f.pickZone(v.avail)
		if z == nil { // nothing on sale now: tickets may come back
			if err := f.sock.wait(ctx, r.over); err != nil {
				if errors.Is(err, errSaleOver) {
					return "sold_out"
				}
				return "interrupted"
			}
			continue
		}
		hs, err := f.reserve(ctx, z, int(min(int64(f.want), left)))
		switch code := codeOf(err); {
		case err == nil:
			holds = hs
		case code == "seat_taken" || code == "sold_out":
			if refused++; refused >= 8 {
				return "gave_up"
			}
			if code == "sold_out" { // the page shows it, and the fan tries again once the feed moves
				if err := f.sock.waitAtMost(ctx, r.over, time.Second); err != nil {
					if errors.Is(err, errSaleOver) {
						return "sold_out"
					}
					return "interrupted"
				}
			}
		case code == "limit_reached":
			return "limit_reached"
		case code == "not_admitted" || code == "session_expired" || code == "invalid_session":
			return "session_ended"
		default:
			return f.gaveUp(ctx, "reserve", err, true)
		}
	}
	r.holding.Add(1)
	defer r.holding.Add(-1)
	switch f.plan {
	case planAbandon:
		return "abandoned" // the hold runs out with the session
	case planReleaseHold:
		for _, h := range holds {
			done := r.delays.expectSeats(h.zone, h.seats, "AVAILABLE", r.since())
			_, err := f.post(ctx, "POST /api/v1/tickets/cancel", "/api/v1/tickets/cancel", map[string]string{"reservation_id": h.id})
			done(err == nil, r.since())
			if err != nil {
				return f.gaveUp(ctx, "release", err, true)
			}
		}
		if err := f.leave(ctx); err != nil {
			return f.gaveUp(ctx, "leave", err, true)
		}
		return "released_hold"
	}
	bookingID, err := f.pay(ctx, holds)
	switch {
	case err != nil:
		return f.gaveUp(ctx, "pay", err, true)
	case bookingID == "":
		return "refunded"
	}
	if f.plan == planCancelBooking {
		var dones []func(bool, time.Duration)
		for _, h := range holds {
			dones = append(dones, r.delays.expectSeats(h.zone, h.seats, "AVAILABLE", r.since()))
		}
		_, err := f.post(ctx, "POST /api/v1/tickets/cancel", "/api/v1/tickets/cancel", map[string]string{"booking_id": bookingID})
		for _, d := range dones {
			d(err == nil, r.since())
		}
		if err != nil {
			return f.gaveUp(ctx, "cancel", err, true)
		}
		r.mu.Lock()
		r.cancelled += ticketsOf(holds)
		r.mu.Unlock()
		return "cancelled_booking"
	}
	return "bought"
}

func ticketsOf(holds []hold) int {
	n := 0
	for _, h := range holds {
		n += h.tickets
	}
	return n
}

// pickZone picks a zone with tickets left, by the fan's own feed, more likely
// the more it has left.
func (f *fan) pickZone(avail map[string]int64) (*zoneInfo, int64) {
	var total int64
	for _, z := range f.r.ev.Zones {
		total += max(avail[z.ID], 0)
	}
	if total == 0 {
		return nil, 0
	}
	pick := f.rng.Int64N(total)
	for i, z := range f.r.ev.Zones {
		if n := max(avail[z.ID], 0); pick < n {
			return &f.r.ev.Zones[i], n
		} else {
			pick -= n
		}
	}
	return nil, 0
}

type reservationAnswer struct {
	Reservation struct {
		ID      string `json:"id"`
		ZoneID  string `json:"zone_id"`
		Tickets []struct {
			SeatID string `json:"seat_id"`
		} `json:"tickets"`
	} `json:"reservation"`
}

// reserve holds q tickets of zone z: a quantity of a pool, named seats from
// the seat map, or the best available seats.
func (f *fan) reserve(ctx context.Context, z *zoneInfo, q int) ([]hold, error) {
	r := f.r
	body := map[string]any{"event_id": r.cfg.EventID, "zone_id": z.ID}
	var seats []string
	switch {
	case z.Kind == "seated" && f.named:
		var err error
		if seats, err = f.pickSeats(ctx, z.ID, q); err != nil {
			return nil, err
		}
		if len(seats) == 0 {
			return nil, &apiError{route: "seat map", code: "sold_out"}
		}
		body["seats"] = seats
	case z.Kind == "seated":
		body["quantity"], body["best_available"] = q, true
	default:
		body["quantity"] = q
	}
	done := r.delays.expectSeats(z.ID, seats, "RESERVED", r.since())
	answers, err := f.write(ctx, request{method: http.MethodPost, route: "POST /api/v1/tickets/reserve",
		path: "/api/v1/tickets/reserve", token: f.token, body: body}, f.oneKey, func(a *answer) string {
		var res reservationAnswer
		_ = a.decode(&res)
		return res.Reservation.ID
	})
	done(err == nil, r.since())
	if err != nil {
		return nil, err
	}
	var holds []hold
	for _, a := range answers {
		var res reservationAnswer
		if err := a.decode(&res); err != nil {
			return nil, err
		}
		h := hold{id: res.Reservation.ID, zone: res.Reservation.ZoneID, tickets: len(res.Reservation.Tickets)}
		for _, t := range res.Reservation.Tickets {
			if t.SeatID != "" {
				h.seats = append(h.seats, t.SeatID)
			}
		}
		holds = append(holds, h)
	}
	return holds, nil
}

// pickSeats reads the seat map and picks q free seats side by side in a row if
// it can, else any q free seats (fewer if fewer are free).
func (f *fan) pickSeats(ctx context.Context, zone string, q int) ([]string, error) {
	a, err := f.api.do(ctx, request{method: http.MethodGet, route: "GET /api/v1/events/{id}/zones/{zone}/seats",
		path: f.eventPath("/zones/" + url.PathEscape(zone) + "/seats")})
	if err != nil {
		return nil, err
	}
	var m struct {
		Seats []struct {
			ID     string `json:"id"`
			Row    string `json:"row"`
			Status string `json:"status"`
		} `json:"seats"`
	}
	if err := a.decode(&m); err != nil {
		return nil, err
	}
	n := len(m.Seats)
	if n == 0 {
		return nil, nil
	}
	start := f.rng.IntN(n)
	var free []string
	for k := range n {
		i := (start + k) % n
		if m.Seats[i].Status != "AVAILABLE" {
			continue
		}
		free = append(free, m.Seats[i].ID)
		// q free seats in a row, side by side in stage order: take them.
		if j := i + q - 1; i+q <= n && m.Seats[j].Row == m.Seats[i].Row {
			run := true
			for _, s := range m.Seats[i : i+q] {
				run = run && s.Status == "AVAILABLE"
			}
			if run {
				seats := make([]string, q)
				for x := range q {
					seats[x] = m.Seats[i+x].ID
				}
				return seats, nil
			}
		}
	}
	return free[:min(q, len(free))], nil
}

type paymentAnswer struct {
	Payment struct {
		ID        string `json:"id"`
		Status    string `json:"status"`
		BookingID string `json:"booking_id"`
	} `json:"payment"`
}

func paymentOf(a *answer) paymentAnswer {
	var p paymentAnswer
	_ = a.decode(&p)
	return p
}

// pay pays for everything the fan holds in the event with the test card; a
// success books at once. It returns the booking ("" when the payment was
// refunded instead: the holds had ended).
func (f *fan) pay(ctx context.Context, holds []hold) (string, error) {
	r := f.r
	answers, err := f.write(ctx, request{method: http.MethodPost, route: "POST /api/v1/payments", path: "/api/v1/payments",
		token: f.token, body: map[string]string{"event_id": r.cfg.EventID}}, true,
		func(a *answer) string { return paymentOf(a).Payment.ID })
	if err != nil {
		return "", err
	}
	id := paymentOf(answers[0]).Payment.ID
	var dones []func(bool, time.Duration)
	for _, h := range holds {
		dones = append(dones, r.delays.expectSeats(h.zone, h.seats, "BOOKED", r.since()))
	}
	answers, err = f.write(ctx, request{method: http.MethodPost, route: "POST /api/v1/payments/{id}/confirm",
		path: "/api/v1/payments/" + url.PathEscape(id) + "/confirm", token: f.token,
		body: map[string]string{"card_number": testCard}}, true,
		func(a *answer) string { return paymentOf(a).Payment.BookingID })
	bookingID := ""
	for _, a := range answers { // a double click's other answer may come before the booking
		bookingID = cmp.Or(bookingID, paymentOf(a).Payment.BookingID)
	}
	for _, d := range dones {
		d(bookingID != "", r.since())
	}
	if err != nil {
		return "", err
	}
	if bookingID != "" {
		r.mu.Lock()
		r.booked += ticketsOf(holds)
		r.mu.Unlock()
	}
	return bookingID, nil
}

func (f *fan) post(ctx context.Context, route, path string, body any) (*answer, error) {
	return f.api.do(ctx, request{method: http.MethodPost, route: route, path: path, token: f.token, body: body, key: newKey()})
}

// write sends a write with a fresh Idempotency-Key, or, for a fan who
// double-clicks, twice at once: with one key, or with two. oneResult says
// whether the API promises one result either way (the same reservation for
// one key; the same payment, the same booking), which the pair is checked
// against. It returns the successful answers, one per distinct result.
func (f *fan) write(ctx context.Context, req request, oneResult bool, idOf func(*answer) string) ([]*answer, error) {
	if !f.double {
		req.key = newKey()
		a, err := f.api.do(ctx, req)
		if err != nil {
			return nil, err
		}
		return []*answer{a}, nil
	}
	pair := [2]request{req, req}
	pair[0].key, pair[1].key = newKey(), newKey()
	if f.oneKey {
		pair[1].key = pair[0].key
	}
	var (
		answers [2]*answer
		errs    [2]error
		done    = make(chan int, 2)
	)
	for i := range pair {
		go func() {
			answers[i], errs[i] = f.api.do(ctx, pair[i])
			done <- i
		}()
	}
	<-done
	<-done
	replayed := 0
	var out []*answer
	seen := map[string]bool{}
	for i, a := range answers {
		if a != nil && a.replay {
			replayed++
		}
		if errs[i] == nil {
			if id := idOf(a); !seen[id] {
				seen[id] = true
				out = append(out, a)
			}
		}
	}
	mismatch, partial := "", false
	if errs[0] == nil && errs[1] == nil && oneResult {
		switch a, b := idOf(answers[0]), idOf(answers[1]); {
		case a == b:
		case a == "" || b == "":
			partial = true // one answer does not name it yet: not a second result
		default:
			keys := "two keys"
			if f.oneKey {
				keys = "one key"
			}
			mismatch = fmt.Sprintf("%s with %s: %q and %q", req.route, keys, a, b)
		}
	}
	f.r.rec.clicked(f.oneKey, replayed, mismatch, partial)
	if len(out) == 0 {
		return nil, errs[0]
	}
	return out, nil
}

// admitted counts an admission and the time the fan spent in line.
func (r *run) admitted(wait time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.admissions++
	r.lineWait.add(wait)
}
