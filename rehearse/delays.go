package rehearse

import (
	"cmp"
	"sync"
	"time"
)

// Live messages carry no server time, and the tool's clock is not the
// server's, so a message's delay cannot be read off the message. delays
// measures what one clock can measure exactly, on a sample of sockets (the
// observers: the watcher and up to maxObservers-1 fans):
//
//   - spread, for queue.update and availability.update: one server step reaches
//     every observer as the same content (a zone's new count; an admission
//     step's tickets_left and status); each observer's receipt is timed from
//     the first observer's receipt of it. The step happened before that first
//     receipt, so this is a lower bound of the step → client delay. Content that
//     one observer receives twice as a change within the window (a count that
//     went away and came back) cannot be told apart and is left out (excluded).
//   - after write and after answer, for seat.update: the tool knows which seats
//     its own writes change (named seats reserved, a hold paid for, released or
//     its booking cancelled), so each observer's first seat.update showing that
//     change is timed from the moment the write was sent (after write), and from
//     the moment its answer came (after answer; 0 when the message came first).
//     The change happened within that request, so the two bracket the truth:
//     after answer is a lower bound, after write an upper one. A change whose
//     write failed is left out.
type delays struct {
	mu      sync.Mutex
	window  time.Duration
	spreads map[delayKey]*spreadRec
	expects map[seatKey]*expectation
	hist    map[string]*histogram
	left    map[string]int // receipts left out: ambiguous content
}

// afterAnswer keys the seat.update delays timed from the write's answer.
const afterAnswer = "seat.update after answer"

// maxObservers bounds the delays' memory in big runs: a few hundred sockets
// give percentiles as good as twenty thousand.
const maxObservers = 500

// delayKey is one step's content: the type, a zone or a queue status, a count.
type delayKey struct {
	typ, name string
	value     int64
}

type spreadRec struct {
	times     []time.Duration
	seen      bitset
	ambiguous bool
}

type seatKey struct{ zone, seat, status string }

type expectation struct {
	keys     []seatKey
	sent     time.Duration
	seen     bitset
	pending  []time.Duration // receipts before the write's answer
	answered time.Duration   // when the answer came; 0 while in flight
}

type bitset []uint64

func (b bitset) has(i int) bool { return i/64 < len(b) && b[i/64]&(1<<(i%64)) != 0 }

func (b *bitset) set(i int) {
	for len(*b) <= i/64 {
		*b = append(*b, 0)
	}
	(*b)[i/64] |= 1 << (i % 64)
}

func newDelays(window time.Duration) *delays {
	return &delays{window: window, spreads: map[delayKey]*spreadRec{}, expects: map[seatKey]*expectation{},
		hist: map[string]*histogram{}, left: map[string]int{}}
}

func (d *delays) histOf(typ string) *histogram {
	h := d.hist[typ]
	if h == nil {
		h = &histogram{}
		d.hist[typ] = h
	}
	return h
}

// spread records observer obs receiving k at at.
func (d *delays) spread(obs int, k delayKey, at time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rec := d.spreads[k]
	if rec == nil {
		rec = &spreadRec{}
		d.spreads[k] = rec
	}
	if rec.seen.has(obs) {
		rec.ambiguous = true
	}
	rec.seen.set(obs)
	rec.times = append(rec.times, at)
}

// expectSeats registers a write about to be sent that will set the seats of
// zone to status; call the returned function with the write's outcome when
// its answer comes, at answered.
func (d *delays) expectSeats(zone string, seats []string, status string, sent time.Duration) func(ok bool, answered time.Duration) {
	if len(seats) == 0 {
		return func(bool, time.Duration) {}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e := &expectation{sent: sent}
	for _, s := range seats {
		k := seatKey{zone, s, status}
		if old := d.expects[k]; old != nil && sent-old.sent < d.window {
			continue // a double click: the first write is the cause
		}
		d.expects[k] = e
		e.keys = append(e.keys, k)
	}
	return func(ok bool, answered time.Duration) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if !ok {
			for _, k := range e.keys {
				if d.expects[k] == e {
					delete(d.expects, k)
				}
			}
			e.pending = nil
			return
		}
		e.answered = max(answered, e.sent+1) // never 0, which means in flight
		for _, at := range e.pending {
			d.histOf("seat.update").add(at - e.sent)
			d.histOf(afterAnswer).add(0)
		}
		e.pending = nil
	}
}

// seats records observer obs receiving a seat.update.
func (d *delays) seats(obs int, zone string, seats map[string]string, at time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for seat, status := range seats {
		e := d.expects[seatKey{zone, seat, status}]
		if e == nil || at < e.sent || e.seen.has(obs) {
			continue
		}
		e.seen.set(obs)
		if e.answered == 0 {
			e.pending = append(e.pending, at)
			continue
		}
		d.histOf("seat.update").add(at - e.sent)
		d.histOf(afterAnswer).add(max(at-e.answered, 0))
	}
}

// sweep settles what is older than the window (all of it when final): a step's
// receipts are counted once no further receipt of it is expected.
func (d *delays) sweep(now time.Duration, final bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, rec := range d.spreads {
		first := rec.times[0]
		for _, t := range rec.times {
			first = min(first, t)
		}
		if !final && now-first < d.window {
			continue
		}
		delete(d.spreads, k)
		if rec.ambiguous {
			d.left[k.typ] += len(rec.times)
			continue
		}
		h := d.histOf(k.typ)
		for _, t := range rec.times {
			h.add(t - first)
		}
	}
	for k, e := range d.expects {
		if final || now-e.sent >= d.window {
			delete(d.expects, k)
		}
	}
}

// DelayReport is one message type's delays.
type DelayReport struct {
	Type     string  `json:"type"`
	Method   string  `json:"method"` // spread, after_write or after_answer
	Samples  int     `json:"samples"`
	Excluded int     `json:"excluded"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
}

// delayKinds are the delays reported, in the report's order: the key of their
// histogram, and the report's type and method.
var delayKinds = [...]struct{ key, typ, method string }{
	{"queue.update", "queue.update", "spread"}, {"availability.update", "availability.update", "spread"},
	{"seat.update", "seat.update", "after_write"}, {afterAnswer, "seat.update", "after_answer"},
}

func (d *delays) report() []DelayReport {
	d.mu.Lock()
	defer d.mu.Unlock()
	return delayReports(d.hist, d.left)
}

// histograms are the delays, for a shard's report.
func (d *delays) histograms() map[string]*Histogram {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]*Histogram{}
	for _, k := range delayKinds {
		out[k.key] = d.histOf(k.key).export()
	}
	return out
}

func delayReports(hist map[string]*histogram, left map[string]int) []DelayReport {
	var out []DelayReport
	for _, k := range delayKinds {
		h := cmp.Or(hist[k.key], &histogram{})
		out = append(out, DelayReport{Type: k.typ, Method: k.method, Samples: h.n, Excluded: left[k.key],
			P50ms: ms(h.quantile(0.5)), P99ms: ms(h.quantile(0.99)), MaxMs: ms(h.max)})
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
