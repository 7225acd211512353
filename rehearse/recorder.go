package rehearse

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// recorder counts what the fans saw; every fan and socket writes to it.
type recorder struct {
	mu         sync.Mutex
	routes     map[string]*histogram
	errors     map[errKey]int
	messages   map[string]int
	connects   int
	reconnects int
	clicks     DoubleClicks
	refused    int // 4xx answers
	failures   int // 5xx answers, and requests that got no answer
}

type errKey struct {
	route  string
	status int
	code   string
}

func newRecorder() *recorder {
	return &recorder{routes: map[string]*histogram{}, errors: map[errKey]int{}, messages: map[string]int{}}
}

// exchange records one request and its answer (status 0: none came).
func (r *recorder) exchange(route string, took time.Duration, status int, code string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if status != 0 {
		h := r.routes[route]
		if h == nil {
			h = &histogram{}
			r.routes[route] = h
		}
		h.add(took)
	}
	if status == 0 || status >= 300 && status != 101 {
		r.errors[errKey{route, status, code}]++
	}
	switch {
	case status == 0 || status >= 500:
		r.failures++
	case status >= 400:
		r.refused++
	}
}

func (r *recorder) message(typ string) {
	r.mu.Lock()
	r.messages[typ]++
	r.mu.Unlock()
}

func (r *recorder) connected() {
	r.mu.Lock()
	r.connects++
	r.mu.Unlock()
}

func (r *recorder) reconnected() {
	r.mu.Lock()
	r.reconnects++
	r.mu.Unlock()
}

// clicked records one double click: two copies of one write, sent at once,
// with one Idempotency-Key or two. mismatch describes two successes that
// named different things where the API promises one ("" when they did not);
// partial says one success named nothing where the other named it.
func (r *recorder) clicked(oneKey bool, replayed int, mismatch string, partial bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := &r.clicks
	c.Pairs++
	if oneKey {
		c.OneKey++
	} else {
		c.TwoKeys++
	}
	c.Replayed += replayed
	if partial {
		c.Partial++
	}
	if mismatch != "" {
		c.Mismatched++
		if len(c.Examples) < 5 {
			c.Examples = append(c.Examples, mismatch)
		}
	}
}

// troubles are the answers so far that refused (4xx) and failed (5xx or none).
func (r *recorder) troubles() (refused, failed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused, r.failures
}

// EndpointReport is one route's latency: every exchange that got an answer.
type EndpointReport struct {
	Endpoint string  `json:"endpoint"`
	Requests int     `json:"requests"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
}

// ErrorCount is how often a route answered with a status and code that were
// not a success; status 0 is no answer at all (code "network").
type ErrorCount struct {
	Endpoint string `json:"endpoint"`
	Status   int    `json:"status"`
	Code     string `json:"code"`
	Count    int    `json:"count"`
}

// DoubleClicks counts the writes sent twice at once.
type DoubleClicks struct {
	Fans       int `json:"fans"`
	Pairs      int `json:"pairs"`
	OneKey     int `json:"one_key"`
	TwoKeys    int `json:"two_keys"`
	Replayed   int `json:"replayed"`   // answers marked Idempotent-Replayed
	Mismatched int `json:"mismatched"` // pairs whose two successes named different things
	// Partial are pairs where one success did not name what the other did: a
	// confirmation answered while the other click was still booking (succeeded,
	// no booking_id yet). Not a second result, so not a broken check.
	Partial int `json:"partial"`
	// Examples are the first mismatched pairs: the route, the keys and what each answer named.
	Examples []string `json:"examples,omitempty"`
}

func (r *recorder) endpoints() []EndpointReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return endpointReports(r.routes)
}

// histograms are the routes' latencies, for a shard's report.
func (r *recorder) histograms() map[string]*Histogram {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]*Histogram{}
	for route, h := range r.routes {
		out[route] = h.export()
	}
	return out
}

func endpointReports(routes map[string]*histogram) []EndpointReport {
	var out []EndpointReport
	for route, h := range routes {
		out = append(out, EndpointReport{Endpoint: route, Requests: h.n, P50ms: ms(h.quantile(0.5)),
			P99ms: ms(h.quantile(0.99)), MaxMs: ms(h.max)})
	}
	slices.SortFunc(out, func(a, b EndpointReport) int { return cmp.Compare(a.Endpoint, b.Endpoint) })
	return out
}

func (r *recorder) errorCounts() []ErrorCount {
	r.mu.Lock()
	defer r.mu.Unlock()
	return errorReports(r.errors)
}

func errorReports(errs map[errKey]int) []ErrorCount {
	var out []ErrorCount
	for k, n := range errs {
		out = append(out, ErrorCount{Endpoint: k.route, Status: k.status, Code: k.code, Count: n})
	}
	slices.SortFunc(out, func(a, b ErrorCount) int {
		return cmp.Or(cmp.Compare(a.Status, b.Status), cmp.Compare(a.Code, b.Code), cmp.Compare(a.Endpoint, b.Endpoint))
	})
	return out
}
