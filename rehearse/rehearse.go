// Package rehearse simulates a crowd of fans against a running deployment, the
// way their browsers would: through the public HTTP API and the live WebSocket
// only. Each fan signs up (or signs in again with the account an earlier run
// made), opens the live feed, joins the line, waits for the feed to admit it,
// and buys one to six tickets with the test provider; some cancel, some walk
// away holding, some double-click. Run reports what happened (time to sell
// out, rates, latency per endpoint, errors, live messages and their delay) and,
// given the database, checks the invariants that must hold afterwards
// (CheckInvariants). It is the tool a team runs against a staging copy the week
// before a big on-sale. A crowd too big for one process runs as shards
// (Config.Shard), and Merge makes one report of theirs.
package rehearse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one rehearsal.
type Config struct {
	URL         string // the deployment, e.g. http://localhost:8080
	EventID     string
	Fans        int           // the whole crowd, of all shards; 0: only check the invariants
	Shard       Shard         // the part of the crowd this process simulates
	Duration    time.Duration // the longest the sale may take, from the first join
	Concurrency int           // HTTP requests in flight at once, all fans together
	Prefix      string        // accounts are <prefix>-<n>@rehearse.example
	Password    string        // every fan's password
	// SignupEvery paces sign-ups, SignupBurst at once and then one every
	// SignupEvery, as the deployment's per-address limit allows; zero: no pace
	// but the server's Retry-After.
	SignupEvery time.Duration
	SignupBurst int
	// Sources are local addresses the fans' connections come from, fan n
	// from Sources[n % len]: a crowd comes from many addresses, and each
	// per-address limit (the app's and a proxy's) then counts only its share.
	// Empty: the system picks, and the whole crowd is one address.
	Sources     []netip.Addr
	Seed        int64   // the fans' choices; the same seed makes the same choices
	Cancel      float64 // share of fans who cancel: half release their hold, half cancel their booking
	Abandon     float64 // share of fans who walk away holding
	DoubleClick float64 // share of fans who send each write twice at once
	// DB, when set, is checked afterwards (CheckInvariants), after waiting up to
	// SettleWait for the server to settle its payments.
	DB         Querier
	SettleWait time.Duration
	// Progress receives a line now and then; Terminal refreshes it in place.
	Progress io.Writer
	Terminal bool
}

var prefixRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,39}$`)

// Validate names the first setting that is wrong, as its flag.
func (c *Config) Validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return errors.New("-url is required: the deployment's base URL, e.g. http://localhost:8080")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("-url is malformed: want http(s)://host[:port], got %q", c.URL)
	case c.EventID == "":
		return errors.New("-event is required: the id of the event to rehearse")
	case c.Fans < 0:
		return fmt.Errorf("-fans is malformed: want 0 or more, got %d", c.Fans)
	case !prefixRE.MatchString(c.Prefix):
		return fmt.Errorf("-prefix is malformed: want 1 to 40 lower-case letters, digits, '.', '_' or '-', got %q", c.Prefix)
	case len(c.Password) < 8 || len(c.Password) > 72:
		return errors.New("-password must be 8 to 72 bytes, as the server requires")
	case c.Concurrency < 1:
		return fmt.Errorf("-concurrency is malformed: want 1 or more, got %d", c.Concurrency)
	case c.Duration <= 0:
		return errors.New("-duration must be positive")
	case c.Cancel+c.Abandon > 1:
		return fmt.Errorf("-cancel (%g) and -abandon (%g) add up to more than 1", c.Cancel, c.Abandon)
	}
	if err := c.Shard.validate(c); err != nil {
		return err
	}
	for name, v := range map[string]float64{"cancel": c.Cancel, "abandon": c.Abandon, "double-click": c.DoubleClick} {
		if v < 0 || v > 1 {
			return fmt.Errorf("-%s is malformed: want a share from 0 to 1, got %g", name, v)
		}
	}
	return nil
}

// run is one rehearsal in progress.
type run struct {
	cfg    Config
	api    *client
	wsHTTP *http.Client
	// Per source address (Config.Sources), or api and wsHTTP alone.
	apis    []*client
	wsHTTPs []*http.Client
	rec     *recorder
	delays  *delays
	ev      *eventInfo
	fans    []*fan
	t0      time.Time // every time in the run is measured from here, on one clock

	// fansCtx is the sale phase: it ends at -duration or when the run ends.
	fansCtx context.Context
	readers sync.WaitGroup // every socket's reader
	over    chan struct{}  // closed once nothing is left to buy or hold
	endOver sync.Once
	lineUp  chan struct{} // closed once the line takes fans (lobby or open)
	lineOne sync.Once

	accountsReady, accountsReused, accountsFailed atomic.Int64
	waiting, shopping, finished, holding          atomic.Int64

	mu          sync.Mutex
	phaseStart  time.Duration // fans start joining
	end         time.Duration // the sale phase ended
	saleOpen    time.Duration // the feed first said open; -1 before
	saleState   string
	ticketsLeft int64         // the watcher's sum over zones; -1 before the feed said
	zeroAt      time.Duration // when the feed last went to no ticket available
	admissions  int
	lineWait    histogram
	booked      int // tickets booked, each booking counted when made
	cancelled   int // tickets of cancelled bookings
	outcomes    map[string]int
	failures    []string
}

func (r *run) since() time.Duration { return time.Since(r.t0) }

// eventInfo is what the tool reads of the event (GET /api/v1/events/{id}).
type eventInfo struct {
	SaleStatus        string     `json:"sale_status"`
	MaxTicketsPerUser int        `json:"max_tickets_per_user"`
	AvailableTickets  int64      `json:"available_tickets"`
	ReservedTickets   int64      `json:"reserved_tickets"`
	Zones             []zoneInfo `json:"zones"`
}

type zoneInfo struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
}

func newRun(cfg Config) *run {
	slots := make(chan struct{}, cfg.Concurrency)
	r := &run{cfg: cfg, rec: newRecorder(), delays: newDelays(10 * time.Second), t0: time.Now(),
		over: make(chan struct{}), lineUp: make(chan struct{}), saleOpen: -1, ticketsLeft: -1,
		outcomes: map[string]int{}}
	newClient := func(tr *http.Transport) *client {
		return &client{base: cfg.URL, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}, slots: slots,
			rec: r.rec, retryFor: 30 * time.Second}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = cfg.Concurrency, cfg.Concurrency
	r.api, r.wsHTTP = newClient(tr), &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	if len(cfg.Sources) == 0 {
		r.apis, r.wsHTTPs = []*client{r.api}, []*http.Client{r.wsHTTP}
		return r
	}
	// Idle connections are kept per transport: together about -concurrency,
	// so that many sources do not hold many idle sockets.
	idle := max(1, (cfg.Concurrency+len(cfg.Sources)-1)/len(cfg.Sources))
	for _, src := range cfg.Sources {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second,
			LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = d.DialContext
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = idle, idle
		ws := http.DefaultTransport.(*http.Transport).Clone()
		ws.DialContext = d.DialContext
		r.apis = append(r.apis, newClient(tr))
		r.wsHTTPs = append(r.wsHTTPs, &http.Client{Transport: ws})
	}
	return r
}

// Run rehearses the sale and reports it. An error means the rehearsal could
// not run (the deployment or the event could not be reached); broken
// invariants are in the report (Report.OK).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.URL = trimSlash(cfg.URL)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Seed == 0 {
		cfg.Seed = time.Now().UnixNano()
	}
	if cfg.DB != nil {
		// Before the sale, not after: a wrong database must not cost a rehearsal.
		if err := eventInDB(ctx, cfg.DB, cfg.EventID); err != nil {
			return nil, err
		}
	} else if cfg.Fans == 0 {
		return nil, errors.New("-fans 0 only checks the invariants: give -database-url too")
	}
	r := newRun(cfg)
	rep := &Report{URL: cfg.URL, EventID: cfg.EventID, Fans: cfg.Shard.size(cfg.Fans), Sources: len(cfg.Sources)}
	if cfg.Fans > 0 {
		if err := r.getEvent(ctx, &r.ev); err != nil {
			return nil, fmt.Errorf("event %s at %s: %w", cfg.EventID, cfg.URL, err)
		}
		if r.ev.SaleStatus == "closed" {
			return nil, fmt.Errorf("event %s: the sale has closed (the show has started)", cfg.EventID)
		}
		prog := r.progress()
		r.fans = r.makeFans()
		r.accounts(ctx, r.fans)
		r.sale(ctx, r.fans)
		prog()
		r.fill(ctx, rep)
	}
	rep.Checks = clientChecks(rep)
	if cfg.DB != nil {
		if ctx.Err() != nil {
			rep.Skipped = "the rehearsal was interrupted: run it again with -fans 0 to check"
		} else {
			inv, err := CheckInvariants(ctx, cfg.DB, cfg.EventID, cfg.SettleWait)
			if err != nil {
				return nil, fmt.Errorf("invariant check: %w", err)
			}
			rep.SettleSeconds = &inv.SettleSeconds
			rep.Checks = append(inv.Checks, rep.Checks...)
		}
	}
	rep.OK = allOK(rep.Checks)
	return rep, nil
}

func allOK(checks []Check) bool {
	for _, c := range checks {
		if !c.OK {
			return false
		}
	}
	return true
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

func (r *run) getEvent(ctx context.Context, into **eventInfo) error {
	a, err := r.api.do(ctx, request{method: http.MethodGet, route: "GET /api/v1/events/{id}",
		path: "/api/v1/events/" + url.PathEscape(r.cfg.EventID)})
	if err != nil {
		return err
	}
	var body struct {
		Event *eventInfo `json:"event"`
	}
	if err := a.decode(&body); err != nil {
		return err
	}
	*into = body.Event
	return nil
}

// makeFans decides who every fan of the shard is and will do, from the seed
// and the fan's index in the whole crowd.
func (r *run) makeFans() []*fan {
	seed := uint64(r.cfg.Seed)
	sh := r.cfg.Shard
	// Observers (delays) are a sample of the whole crowd, each in its shard;
	// the watcher is observer 0.
	obs := map[int]int{}
	order := rand.New(rand.NewPCG(seed, ^uint64(0))).Perm(r.cfg.Fans)
	for k, i := range order[:min(len(order), maxObservers-1)] {
		obs[i] = k + 1
	}
	fans := make([]*fan, 0, sh.size(r.cfg.Fans))
	limit := min(6, max(r.ev.MaxTicketsPerUser, 1))
	for i := sh.Index; i < r.cfg.Fans; i += max(sh.Of, 1) {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		f := &fan{r: r, n: i + 1, rng: rng, obs: -1, want: 1 + rng.IntN(limit), named: rng.IntN(2) == 0,
			api: r.apis[i%len(r.apis)], wsHTTP: r.wsHTTPs[i%len(r.wsHTTPs)]}
		f.email = fmt.Sprintf("%s-%d@rehearse.example", r.cfg.Prefix, f.n)
		switch u := rng.Float64(); {
		case u < r.cfg.Abandon:
			f.plan = planAbandon
		case u < r.cfg.Abandon+r.cfg.Cancel/2:
			f.plan = planReleaseHold
		case u < r.cfg.Abandon+r.cfg.Cancel:
			f.plan = planCancelBooking
		}
		if rng.Float64() < r.cfg.DoubleClick {
			f.double, f.oneKey = true, rng.IntN(2) == 0
		}
		if k, ok := obs[i]; ok {
			f.obs = k
		}
		fans = append(fans, f)
	}
	return fans
}

// accounts makes or signs in every fan's account, as fans do before an
// on-sale. The first fan tells whether an earlier run with this prefix made
// the accounts: then every fan signs in first, else signs up first.
func (r *run) accounts(ctx context.Context, fans []*fan) {
	existing := fans[0].signIn(ctx) == nil
	if existing {
		r.accountsReady.Add(1)
		r.accountsReused.Add(1)
	}
	// The shards share the deployment's sign-up limit: each paces its share.
	of := max(r.cfg.Shard.Of, 1)
	pace := newPacer(r.cfg.SignupBurst/of, r.cfg.SignupEvery*time.Duration(of))
	work := make(chan *fan)
	var wg sync.WaitGroup
	for range min(r.cfg.Concurrency, len(fans)) {
		wg.Go(func() {
			for f := range work {
				reused, err := f.account(ctx, existing, pace)
				if err != nil {
					if ctx.Err() == nil {
						r.accountsFailed.Add(1)
						r.failure(fmt.Sprintf("account %s: %v", f.email, err))
					}
					continue
				}
				r.accountsReady.Add(1)
				if reused {
					r.accountsReused.Add(1)
				}
			}
		})
	}
	for _, f := range fans {
		if f.token != "" {
			continue
		}
		select {
		case work <- f:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	r.mu.Lock()
	r.phaseStart = r.since()
	r.mu.Unlock()
}

// sale lets every fan with an account loose on the sale, with the tool's own
// watcher on the feed, until every fan is done, -duration passes, or ctx ends.
func (r *run) sale(ctx context.Context, fans []*fan) {
	fansCtx, cancel := context.WithTimeout(ctx, r.cfg.Duration)
	defer cancel()
	r.mu.Lock()
	r.fansCtx = fansCtx
	r.mu.Unlock()
	if r.ev.SaleStatus != "scheduled" {
		r.lineOne.Do(func() { close(r.lineUp) })
	}
	watcher := r.newSocket("", 0, r.wsHTTP)
	if err := watcher.open(fansCtx); err != nil {
		r.failure("watcher: " + err.Error())
		r.lineOne.Do(func() { close(r.lineUp) }) // the fans find out when they join
	}
	var wg sync.WaitGroup
	for _, f := range fans {
		if f.token == "" {
			r.outcome("no_account")
			continue
		}
		wg.Go(func() { r.outcome(f.visit(fansCtx)) })
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	go r.monitor(fansCtx)
	select {
	case <-allDone:
	case <-fansCtx.Done():
	}
	r.mu.Lock()
	r.end = r.since()
	r.mu.Unlock()
	cancel()
	<-allDone
	watcher.close()
	r.readers.Wait()
	r.delays.sweep(r.since(), true)
}

// monitor reads the event's counts every second: once nothing is available
// or held and no fan of this run is in the middle of a purchase, the sale is
// over for good and fans still waiting go home.
func (r *run) monitor(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var ev *eventInfo
		if r.getEvent(ctx, &ev) != nil || ev == nil {
			continue
		}
		if ev.AvailableTickets == 0 && ev.ReservedTickets == 0 && r.holding.Load() == 0 {
			r.endOver.Do(func() { close(r.over) })
		}
	}
}

// watched takes the watcher's view of availability.
func (r *run) watched(at time.Duration, avail map[string]int64) {
	var total int64
	for _, n := range avail {
		total += n
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if total == 0 && r.ticketsLeft != 0 {
		r.zeroAt = at
	}
	r.ticketsLeft = total
}

// saleStatus takes the watcher's view of the sale.
func (r *run) saleStatus(at time.Duration, status string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.saleState = status
	if status == "open" && r.saleOpen < 0 {
		r.saleOpen = at
	}
	if status != "scheduled" {
		r.lineOne.Do(func() { close(r.lineUp) })
	}
}

func (r *run) outcome(o string) {
	r.mu.Lock()
	r.outcomes[o]++
	r.mu.Unlock()
}

// failure keeps the first few distinct reasons a fan gave up, for the report.
func (r *run) failure(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failures) < 10 && !slices.Contains(r.failures, msg) {
		r.failures = append(r.failures, msg)
	}
}

// pacer lets burst through at once, then one every every.
type pacer struct {
	mu    sync.Mutex
	every time.Duration
	next  time.Time
	burst int
}

func newPacer(burst int, every time.Duration) *pacer {
	return &pacer{every: every, burst: max(burst, 1)}
}

func (p *pacer) wait(ctx context.Context) error {
	if p.every <= 0 {
		return nil
	}
	p.mu.Lock()
	now := time.Now()
	if earliest := now.Add(-time.Duration(p.burst-1) * p.every); p.next.Before(earliest) {
		p.next = earliest
	}
	at := p.next
	p.next = p.next.Add(p.every)
	p.mu.Unlock()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(at)):
		return nil
	}
}
