package rehearse

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A quantile is within the histogram's 1/64 of the truth, and the max exact.
func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	var h histogram
	for i := 1; i <= 10_000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	for _, q := range []float64{0.5, 0.99} {
		want := time.Duration(q*10_000) * time.Millisecond
		got := h.quantile(q)
		require.InDelta(t, float64(want), float64(got), float64(want)/64, "q%v", q)
	}
	require.Equal(t, 10*time.Second, h.max)
	require.Equal(t, time.Duration(0), (&histogram{}).quantile(0.5))
}

// A step's receipts are timed from the first observer's; content one observer
// receives twice as a change cannot be told apart and is left out.
func TestDelaySpread(t *testing.T) {
	t.Parallel()
	d := newDelays(10 * time.Second)
	step := delayKey{typ: "availability.update", name: "GA", value: 7}
	d.spread(0, step, 100*time.Millisecond)
	d.spread(1, step, 130*time.Millisecond)
	d.spread(2, step, 90*time.Millisecond) // read first, recorded last: still the first
	again := delayKey{typ: "availability.update", name: "GA", value: 5}
	d.spread(0, again, time.Second)
	d.spread(0, again, 3*time.Second)
	d.spread(1, again, 3*time.Second)
	d.sweep(10500*time.Millisecond, false)
	require.Len(t, d.spreads, 1, "the second key's window has not passed yet")
	d.sweep(20*time.Second, false)
	h := d.hist["availability.update"]
	require.Equal(t, 3, h.n)
	require.Equal(t, 40*time.Millisecond, h.max)
	require.Equal(t, 3, d.left["availability.update"])
}

// A seat's change is timed from sending the write that made it (an upper
// bound) and from its answer (a lower one, 0 when the message came first), for
// each observer once; a failed write's matches are dropped.
func TestDelayAfterWrite(t *testing.T) {
	t.Parallel()
	d := newDelays(10 * time.Second)
	done := d.expectSeats("VIP", []string{"1A", "1B"}, "RESERVED", time.Second)
	d.seats(1, "VIP", map[string]string{"1A": "RESERVED", "1B": "RESERVED"}, 1100*time.Millisecond)
	done(true, 1200*time.Millisecond)
	d.seats(2, "VIP", map[string]string{"1A": "RESERVED"}, 1300*time.Millisecond)
	d.seats(2, "VIP", map[string]string{"1A": "RESERVED"}, 1400*time.Millisecond) // seen already
	upper, lower := d.hist["seat.update"], d.hist[afterAnswer]
	require.Equal(t, 2, upper.n, "observer 1 once for the write, observer 2 once")
	require.Equal(t, 300*time.Millisecond, upper.max)
	require.Equal(t, 2, lower.n)
	require.Equal(t, 100*time.Millisecond, lower.max)
	require.Equal(t, time.Duration(0), lower.quantile(0.5), "observer 1 had it before the answer")

	failed := d.expectSeats("VIP", []string{"2A"}, "RESERVED", 2*time.Second)
	d.seats(1, "VIP", map[string]string{"2A": "RESERVED"}, 2100*time.Millisecond) // someone else's hold
	failed(false, 2200*time.Millisecond)
	d.seats(2, "VIP", map[string]string{"2A": "RESERVED"}, 2300*time.Millisecond)
	require.Equal(t, 2, upper.n)
}

// The same seed makes the same fans; another seed, others.
func TestSeedMakesTheSameFans(t *testing.T) {
	t.Parallel()
	fans := func(seed int64) string {
		r := newRun(Config{Fans: 50, Seed: seed, Concurrency: 1, Cancel: 0.3, Abandon: 0.2, DoubleClick: 0.5, Prefix: "p"})
		r.ev = &eventInfo{MaxTicketsPerUser: 6}
		var b strings.Builder
		for _, f := range r.makeFans() {
			b.WriteString(strings.Join([]string{f.email, string(rune('0' + f.plan)), string(rune('0' + f.want)),
				boolText(f.named), boolText(f.double), boolText(f.oneKey)}, ","))
			b.WriteByte('\n')
		}
		return b.String()
	}
	require.Equal(t, fans(42), fans(42))
	require.NotEqual(t, fans(42), fans(43))
}

func boolText(b bool) string {
	if b {
		return "y"
	}
	return "n"
}

// On a terminal the progress line is rewritten in place; elsewhere each is a
// line of its own.
func TestProgressLines(t *testing.T) {
	t.Parallel()
	for _, terminal := range []bool{true, false} {
		var out bytes.Buffer
		r := newRun(Config{Fans: 3, Concurrency: 1, Progress: &out, Terminal: terminal})
		r.accountsReady.Add(2)
		r.printProgress(&out, false)
		r.printProgress(&out, true)
		if terminal {
			require.Equal(t, 2, strings.Count(out.String(), "\r\033[K"), "%q", out.String())
			require.Equal(t, 1, strings.Count(out.String(), "\n"))
		} else {
			require.NotContains(t, out.String(), "\r")
			require.Equal(t, 2, strings.Count(out.String(), "\n"))
		}
		require.Contains(t, out.String(), "accounts 2/3 ready")
	}
}

// Two successes of one double-clicked write that name different things break
// the promise of one result; one that names nothing yet (a confirmation
// answered while the other click is still booking) is counted apart. The
// server here only replays canned answers: the real one cannot be made to
// give each on cue.
func TestDoubleClickAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		first, second       string
		mismatched, partial int
	}{
		{name: "same booking", first: "bkg_1", second: "bkg_1"},
		{name: "no booking yet", first: "bkg_1", second: "", partial: 1},
		{name: "two bookings", first: "bkg_1", second: "bkg_2", mismatched: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			answers := make(chan string, 2)
			answers <- tt.first
			answers <- tt.second
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				p := map[string]any{"id": "pay_1", "status": "succeeded"}
				if b := <-answers; b != "" {
					p["booking_id"] = b
				}
				_ = json.NewEncoder(w).Encode(map[string]any{"payment": p})
			}))
			defer srv.Close()
			r := newRun(Config{URL: srv.URL, Concurrency: 2})
			f := &fan{r: r, api: r.api, double: true}
			got, err := f.write(t.Context(), request{method: http.MethodPost, route: "confirm", path: "/"}, true,
				func(a *answer) string { return paymentOf(a).Payment.BookingID })
			require.NoError(t, err)
			require.NotEmpty(t, got)
			c := r.rec.clicks
			require.Equal(t, 1, c.Pairs)
			require.Equal(t, tt.mismatched, c.Mismatched)
			require.Equal(t, tt.partial, c.Partial)
		})
	}
}

// With sources, each fan's requests and live socket come from its own share of
// the addresses, fan n from Sources[n % len], so that a server's per-address
// limits count the crowd as many addresses.
func TestSourcesSpreadFans(t *testing.T) {
	var mu sync.Mutex
	from := map[string][]string{} // path → remote addresses, in order
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		from[r.URL.Path] = append(from[r.URL.Path], host)
		mu.Unlock()
		_, _ = w.Write([]byte("{}"))
	}))
	defer srv.Close()
	sources := []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.4")}
	r := newRun(Config{URL: srv.URL, Fans: 7, Concurrency: 4, Seed: 1, Sources: sources})
	r.ev = &eventInfo{MaxTicketsPerUser: 6}
	want := []string{}
	for i, f := range r.makeFans() {
		_, err := f.api.do(context.Background(), request{method: http.MethodGet, route: "api", path: "/api"})
		require.NoError(t, err)
		resp, err := f.wsHTTP.Get(srv.URL + "/live")
		require.NoError(t, err)
		resp.Body.Close()
		want = append(want, sources[i%len(sources)].String())
	}
	require.Equal(t, want, from["/api"])
	require.Equal(t, want, from["/live"])
}

// The counts a fan in line is sent when admitted are every zone's latest,
// some of them old: they are not timed as a step reaching the socket. Once
// shopping, the fan's counts are.
func TestAdmissionCatchUpIsNoStep(t *testing.T) {
	t.Parallel()
	r := &run{delays: newDelays(10 * time.Second), rec: newRecorder()}
	s := r.newSocket("token", 0, nil)
	waiting := int64(40)
	s.handle(time.Second, &liveMsg{Type: "availability.update", ZoneID: "GA", AvailableTickets: 9}) // the snapshot's
	s.handle(time.Second, &liveMsg{Type: "queue.update", Status: "waiting", Position: &waiting})
	s.handle(9*time.Second, &liveMsg{Type: "availability.update", ZoneID: "GA", AvailableTickets: 7})
	s.handle(9*time.Second, &liveMsg{Type: "session.admitted", SessionID: "s1"})
	require.Empty(t, r.delays.spreads, "the catch-up was timed")
	s.handle(10*time.Second, &liveMsg{Type: "availability.update", ZoneID: "GA", AvailableTickets: 6})
	require.Len(t, r.delays.spreads, 1, "a shopper's count is a step")
}
