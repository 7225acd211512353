package rehearse

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a rehearsal measured; --json prints it as it is.
type Report struct {
	URL     string `json:"url"`
	EventID string `json:"event_id"`
	Fans    int    `json:"fans"`              // the fans this report is of: a shard's, or all
	Sources int    `json:"sources,omitempty"` // source addresses the fans came from (-source)
	// Shard is there in a shard's report (-shard), for Merge; Shards in a
	// merged report says how many shards it is of.
	Shard  *ShardData `json:"shard,omitempty"`
	Shards int        `json:"shards,omitempty"`
	// The rest is there when fans ran (not with -fans 0).
	Seed     int64           `json:"seed,omitempty"`
	Mix      *Mix            `json:"mix,omitempty"`
	Accounts *AccountsReport `json:"accounts,omitempty"`
	Sale     *SaleReport     `json:"sale,omitempty"`
	// Outcomes counts the fans by how their visit ended: bought,
	// cancelled_booking, released_hold, abandoned, sold_out (the sale was over
	// before they had anything), session_ended, gave_up (refused eight times),
	// limit_reached, refunded (paid after their hold ended), waiting (still in
	// line when the run ended), interrupted (mid-purchase when it ended),
	// failed, no_account, line_closed.
	Outcomes     map[string]int   `json:"outcomes,omitempty"`
	Failures     []string         `json:"failures,omitempty"` // the first distinct reasons fans failed
	DoubleClicks *DoubleClicks    `json:"double_clicks,omitempty"`
	Endpoints    []EndpointReport `json:"endpoints,omitempty"`
	Errors       []ErrorCount     `json:"errors,omitempty"`
	Live         *LiveReport      `json:"live,omitempty"`
	// SettleSeconds is how long the database check waited for the server to
	// settle its payments; absent when the database was not checked, and
	// Skipped then says why if a database was given.
	SettleSeconds *float64 `json:"settle_seconds,omitempty"`
	Skipped       string   `json:"skipped,omitempty"`
	// Checks are the database's invariants (CheckInvariants) and the
	// client's own: no 500 answer, every double click answered once.
	Checks []Check `json:"checks"`
	OK     bool    `json:"ok"`
}

// Mix is the share of fans who behave each way.
type Mix struct {
	Cancel      float64 `json:"cancel"`
	Abandon     float64 `json:"abandon"`
	DoubleClick float64 `json:"double_click"`
}

// AccountsReport is the accounts phase, before the sale.
type AccountsReport struct {
	Ready       int     `json:"ready"`
	Reused      int     `json:"reused"` // signed in to accounts an earlier run made
	Failed      int     `json:"failed"`
	RateLimited int     `json:"rate_limited"` // 429 answers waited out
	Seconds     float64 `json:"seconds"`
}

// SaleReport is the sale: from the first join (or the opening, if later) to
// the sell-out, or the end of the run.
type SaleReport struct {
	Seconds             float64 `json:"seconds"` // the window the rates are over
	SoldOut             bool    `json:"sold_out"`
	SoldOutSeconds      float64 `json:"sold_out_seconds,omitempty"`
	TicketsAtStart      int64   `json:"tickets_at_start"` // available when the run began
	TicketsBooked       int     `json:"tickets_booked"`   // by this run's fans, each booking when made
	TicketsCancelled    int     `json:"tickets_cancelled"`
	TicketsLeft         int64   `json:"tickets_left"` // available at the end
	TicketsHeld         int64   `json:"tickets_held"` // held at the end
	TicketsPerSecond    float64 `json:"tickets_per_second"`
	Admissions          int     `json:"admissions"`
	AdmissionsPerSecond float64 `json:"admissions_per_second"`
	LineWaitP50ms       float64 `json:"line_wait_p50_ms"` // from the join to session.admitted
	LineWaitP99ms       float64 `json:"line_wait_p99_ms"`
	LineWaitMaxMs       float64 `json:"line_wait_max_ms"`
}

// LiveReport is what the live sockets received.
type LiveReport struct {
	Connects   int            `json:"connects"`
	Reconnects int            `json:"reconnects"`
	Messages   map[string]int `json:"messages"` // by type, snapshots included
	Delays     []DelayReport  `json:"delays"`
}

// fill completes the report of a run that has ended.
func (r *run) fill(ctx context.Context, rep *Report) {
	rec := r.rec
	rep.Endpoints, rep.Errors = rec.endpoints(), rec.errorCounts()
	if sh := r.cfg.Shard; !sh.whole() {
		// Now, as Endpoints: the final read of the event below is not the fans'.
		rep.Shard = &ShardData{Index: sh.Index, Of: sh.Of, Endpoints: rec.histograms()}
	}
	rep.Seed, rep.Mix = r.cfg.Seed, &Mix{Cancel: r.cfg.Cancel, Abandon: r.cfg.Abandon, DoubleClick: r.cfg.DoubleClick}
	rep.Accounts = &AccountsReport{Ready: int(r.accountsReady.Load()), Reused: int(r.accountsReused.Load()),
		Failed:  int(r.accountsFailed.Load()),
		Seconds: r.phaseStart.Seconds()}
	for _, e := range rep.Errors {
		if e.Status == 429 && (e.Endpoint == "POST /api/v1/users" || e.Endpoint == "POST /api/v1/auth/login") {
			rep.Accounts.RateLimited += e.Count
		}
	}
	var final *eventInfo
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = r.getEvent(ctx, &final)
	r.mu.Lock()
	start := max(r.phaseStart, r.saleOpen)
	s := SaleReport{TicketsAtStart: r.ev.AvailableTickets, TicketsBooked: r.booked, TicketsCancelled: r.cancelled,
		Admissions: r.admissions, LineWaitP50ms: ms(r.lineWait.quantile(0.5)),
		LineWaitP99ms: ms(r.lineWait.quantile(0.99)), LineWaitMaxMs: ms(r.lineWait.max)}
	window := r.end - start
	if final != nil {
		s.TicketsLeft, s.TicketsHeld = final.AvailableTickets, final.ReservedTickets
		if final.AvailableTickets == 0 && final.ReservedTickets == 0 && r.zeroAt > 0 {
			s.SoldOut = true
			window = max(r.zeroAt-start, 0)
			s.SoldOutSeconds = window.Seconds()
		}
	}
	rep.Outcomes = maps.Clone(r.outcomes)
	rep.Failures = slices.Clone(r.failures)
	if sh := rep.Shard; sh != nil {
		sh.SaleStart, sh.SaleEnd, sh.LineWait = r.t0.Add(start), r.t0.Add(r.end), r.lineWait.export()
		if s.SoldOut {
			sh.SoldOutAt = r.t0.Add(r.zeroAt)
		}
	}
	r.mu.Unlock()
	s.Seconds = window.Seconds()
	if window > 0 {
		s.TicketsPerSecond = float64(s.TicketsBooked) / window.Seconds()
		s.AdmissionsPerSecond = float64(s.Admissions) / window.Seconds()
	}
	rep.Sale = &s
	rec.mu.Lock()
	clicks := rec.clicks
	rep.DoubleClicks = &clicks
	rep.Live = &LiveReport{Connects: rec.connects, Reconnects: rec.reconnects, Messages: maps.Clone(rec.messages)}
	rec.mu.Unlock()
	for _, f := range r.fans {
		if f.double {
			rep.DoubleClicks.Fans++
		}
	}
	rep.Live.Delays = r.delays.report()
	if rep.Shard != nil {
		rep.Shard.Delays = r.delays.histograms()
	}
}

// clientChecks are the promises the client itself can see kept or broken.
func clientChecks(rep *Report) []Check {
	internal := 0
	for _, e := range rep.Errors {
		if e.Status == 500 {
			internal += e.Count
		}
	}
	if rep.DoubleClicks == nil {
		return nil // no fans ran
	}
	return []Check{
		{Name: "no_internal_errors", Source: "client", OK: internal == 0,
			Detail: fmt.Sprintf("%d answers were 500 internal (a bug, by the API's own rule)", internal)},
		{Name: "double_clicks_answered_once", Source: "client", OK: rep.DoubleClicks.Mismatched == 0,
			Detail: fmt.Sprintf("%d of %d double-clicked writes got two different results where one was promised",
				rep.DoubleClicks.Mismatched, rep.DoubleClicks.Pairs)},
	}
}

// Broken names the checks that failed.
func (rep *Report) Broken() []string {
	var out []string
	for _, c := range rep.Checks {
		if !c.OK {
			out = append(out, c.Name)
		}
	}
	return out
}

var checkTitles = map[string]string{
	"ticket_booked_once":          "every ticket booked at most once",
	"zone_counts":                 "available + held + booked = capacity, per zone",
	"payments_settled":            "every succeeded payment booked or refunded",
	"fan_limit":                   "no fan over the event's limit",
	"no_internal_errors":          "no 500 answers",
	"double_clicks_answered_once": "double clicks answered once",
}

// WriteText writes the report for people.
func (rep *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	if rep.Mix == nil {
		p("Check of %s\n", rep.EventID)
	} else {
		from := ""
		if rep.Sources > 0 {
			from = fmt.Sprintf(" from %d addresses", rep.Sources)
		}
		switch {
		case rep.Shard != nil:
			from += fmt.Sprintf(", shard %d of %d", rep.Shard.Index, rep.Shard.Of)
		case rep.Shards > 0:
			from += fmt.Sprintf(" in %d shards", rep.Shards)
		}
		p("Rehearsal of %s at %s: %d fans%s (seed %d; cancel %s, abandon %s, double-click %s)\n\n", rep.EventID, rep.URL,
			rep.Fans, from, rep.Seed, pct(rep.Mix.Cancel), pct(rep.Mix.Abandon), pct(rep.Mix.DoubleClick))
		p("Accounts   %d ready (%d made by an earlier run), %d failed, in %.1f s; %d answers 429 waited out\n",
			rep.Accounts.Ready, rep.Accounts.Reused, rep.Accounts.Failed, rep.Accounts.Seconds, rep.Accounts.RateLimited)
		s := rep.Sale
		if s.SoldOut {
			p("Sale       sold out in %.1f s", s.SoldOutSeconds)
		} else {
			p("Sale       not sold out after %.1f s", s.Seconds)
		}
		p(": %d tickets on sale; %d booked (%.1f/s), %d of them cancelled; %d left, %d held at the end\n",
			s.TicketsAtStart, s.TicketsBooked, s.TicketsPerSecond, s.TicketsCancelled, s.TicketsLeft, s.TicketsHeld)
		p("           %d admissions (%.1f/s); time in line p50 %s, p99 %s, max %s\n", s.Admissions, s.AdmissionsPerSecond,
			msText(s.LineWaitP50ms), msText(s.LineWaitP99ms), msText(s.LineWaitMaxMs))
		p("Fans       %s\n", counts(rep.Outcomes))
		for _, f := range rep.Failures {
			p("           failed: %s\n", f)
		}
		d := rep.DoubleClicks
		p("Clicks     %d fans double-clicked %d writes: %d with one key (%d answers replayed), %d with two keys; %d answered differently",
			d.Fans, d.Pairs, d.OneKey, d.Replayed, d.TwoKeys, d.Mismatched)
		if d.Partial > 0 {
			p(", %d answered before the other click had finished (no booking_id yet)", d.Partial)
		}
		p("\n")
		for _, e := range d.Examples {
			p("           answered differently: %s\n", e)
		}
		p("\n")

		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "Endpoint\trequests\tp50\tp99\tmax\t")
		for _, e := range rep.Endpoints {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t\n", e.Endpoint, e.Requests, msText(e.P50ms), msText(e.P99ms), msText(e.MaxMs))
		}
		_ = tw.Flush()
		if len(rep.Errors) > 0 {
			p("\nAnswers that were not a success\n")
			tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
			for _, e := range rep.Errors {
				fmt.Fprintf(tw, "  %d\t%s\t%s\t%d\n", e.Status, e.Code, e.Endpoint, e.Count)
			}
			_ = tw.Flush()
		}
		l := rep.Live
		p("\nLive       %d connections (%d reconnects); messages: %s\n", l.Connects, l.Reconnects, counts(l.Messages))
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "Delay\tsamples\tleft out\tp50\tp99\tmax\t")
		for _, d := range l.Delays {
			fmt.Fprintf(tw, "%s (%s)\t%d\t%d\t%s\t%s\t%s\t\n", d.Type, strings.ReplaceAll(d.Method, "_", " "), d.Samples,
				d.Excluded, msText(d.P50ms), msText(d.P99ms), msText(d.MaxMs))
		}
		_ = tw.Flush()
		p("(spread: from the first watched socket to receive the same step, a lower bound of the step's delay;\n")
		p(" after write and after answer: from sending the write that changed the seat, and from its answer,\n")
		p(" an upper and a lower bound)\n")
	}
	p("\nChecks")
	switch {
	case rep.SettleSeconds != nil && rep.Mix == nil:
		p(" (PostgreSQL after %.1f s for the settler)\n", *rep.SettleSeconds)
	case rep.SettleSeconds != nil:
		p(" (PostgreSQL after %.1f s for the settler, and the client's own)\n", *rep.SettleSeconds)
	case rep.Skipped != "":
		p(" (the client's own; PostgreSQL not checked: %s)\n", rep.Skipped)
	default:
		p(" (the client's own; give -database-url for the invariants in PostgreSQL)\n")
	}
	for _, c := range rep.Checks {
		mark := "ok    "
		if !c.OK {
			mark = "BROKEN"
		}
		p("  %s  %s: %s\n", mark, cmp.Or(checkTitles[c.Name], c.Name), c.Detail)
	}
	if rep.OK {
		p("\nEvery check held.\n")
	} else {
		p("\nBroken: %s\n", strings.Join(rep.Broken(), ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func pct(f float64) string { return fmt.Sprintf("%g %%", f*100) }

func msText(v float64) string {
	d := time.Duration(v * float64(time.Millisecond))
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0fms", v)
	}
	return fmt.Sprintf("%.1fms", v)
}

// counts is "a 3 · b 2", largest first.
func counts(m map[string]int) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b)) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " · ")
}
