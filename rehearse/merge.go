package rehearse

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Merge makes one report of the reports of a crowd's shards (Config.Shard),
// as if one process had run the whole crowd, and of check-only reports
// (-fans 0), whose database checks it takes: a check run once every shard has
// ended sees the sale as a whole. Counts add up; latencies, delays and time in
// line come from the shards' histograms added together; the checks hold when
// they held in every report (the client's own are made again from the merged
// counts).
func Merge(reps ...*Report) (*Report, error) {
	shards, err := shardsOf(reps)
	if err != nil {
		return nil, err
	}
	first := shards[0]
	m := &Report{URL: first.URL, EventID: first.EventID, Sources: first.Sources, Shards: len(shards), Seed: first.Seed,
		Mix: first.Mix, Accounts: &AccountsReport{}, Outcomes: map[string]int{},
		DoubleClicks: &DoubleClicks{}, Live: &LiveReport{Messages: map[string]int{}}}
	routes, delayHists, lineWait := map[string]*histogram{}, map[string]*histogram{}, &histogram{}
	errs, excluded := map[errKey]int{}, map[string]int{}
	for _, s := range shards {
		m.Fans += s.Fans
		a := m.Accounts
		a.Ready, a.Reused, a.Failed = a.Ready+s.Accounts.Ready, a.Reused+s.Accounts.Reused, a.Failed+s.Accounts.Failed
		a.RateLimited += s.Accounts.RateLimited
		a.Seconds = max(a.Seconds, s.Accounts.Seconds) // side by side, each from its own start
		for o, n := range s.Outcomes {
			m.Outcomes[o] += n
		}
		for _, f := range s.Failures {
			if len(m.Failures) < 10 && !slices.Contains(m.Failures, f) {
				m.Failures = append(m.Failures, f)
			}
		}
		d, sd := m.DoubleClicks, s.DoubleClicks
		d.Fans, d.Pairs, d.OneKey, d.TwoKeys = d.Fans+sd.Fans, d.Pairs+sd.Pairs, d.OneKey+sd.OneKey, d.TwoKeys+sd.TwoKeys
		d.Replayed, d.Mismatched, d.Partial = d.Replayed+sd.Replayed, d.Mismatched+sd.Mismatched, d.Partial+sd.Partial
		d.Examples = append(d.Examples, sd.Examples[:min(len(sd.Examples), 5-len(d.Examples))]...)
		for _, e := range s.Errors {
			errs[errKey{e.Endpoint, e.Status, e.Code}] += e.Count
		}
		m.Live.Connects += s.Live.Connects
		m.Live.Reconnects += s.Live.Reconnects
		for typ, n := range s.Live.Messages {
			m.Live.Messages[typ] += n
		}
		for _, k := range delayKinds {
			i := slices.IndexFunc(s.Live.Delays, func(d DelayReport) bool { return d.Type == k.typ && d.Method == k.method })
			if i >= 0 {
				excluded[k.key] += s.Live.Delays[i].Excluded
			}
		}
		if err := mergeInto(routes, s.Shard.Endpoints); err != nil {
			return nil, err
		}
		if err := mergeInto(delayHists, s.Shard.Delays); err != nil {
			return nil, err
		}
		if err := lineWait.merge(s.Shard.LineWait); err != nil {
			return nil, err
		}
	}
	m.Endpoints, m.Errors = endpointReports(routes), errorReports(errs)
	m.Live.Delays = delayReports(delayHists, excluded)
	m.Sale = mergeSale(shards, lineWait)
	for _, rep := range reps {
		if s := rep.SettleSeconds; s != nil && (m.SettleSeconds == nil || *s > *m.SettleSeconds) {
			m.SettleSeconds = new(*s)
		}
		m.Skipped = cmp.Or(m.Skipped, rep.Skipped)
	}
	if m.SettleSeconds != nil {
		m.Skipped = "" // a check ran after all
	}
	m.Checks = append(databaseChecks(reps), clientChecks(m)...)
	m.OK = allOK(m.Checks)
	return m, nil
}

// databaseChecks are the reports' checks but the client's, each check once:
// it held if it held in every report that made it, and the detail of a
// broken one says why.
func databaseChecks(reps []*Report) []Check {
	var out []Check
	for _, rep := range reps {
		for _, c := range rep.Checks {
			if c.Source == "client" {
				continue // made again from the merged counts
			}
			i := slices.IndexFunc(out, func(o Check) bool { return o.Name == c.Name })
			switch {
			case i < 0:
				out = append(out, c)
			case out[i].OK && !c.OK:
				out[i] = c
			}
		}
	}
	return out
}

// mergeInto adds the histograms hs to those of into, by key.
func mergeInto(into map[string]*histogram, hs map[string]*Histogram) error {
	for k, x := range hs {
		h := into[k]
		if h == nil {
			h = &histogram{}
			into[k] = h
		}
		if err := h.merge(x); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

// shardsOf are the shards' reports among reps, once it is sure they are every
// shard of one crowd.
func shardsOf(reps []*Report) ([]*Report, error) {
	var shards []*Report
	for _, rep := range reps {
		switch {
		case rep.EventID != reps[0].EventID:
			return nil, fmt.Errorf("reports of two events: %s and %s", reps[0].EventID, rep.EventID)
		case rep.Shard != nil:
			shards = append(shards, rep)
		case rep.Mix != nil:
			return nil, fmt.Errorf("a report of %d fans that is no shard's: run each part with -shard i/n", rep.Fans)
		}
	}
	if len(shards) == 0 {
		return nil, errors.New("no shard's report to merge")
	}
	first := shards[0]
	seen := map[int]bool{}
	for _, s := range shards {
		sh := s.Shard
		switch {
		case sh.Of != first.Shard.Of || sh.Index < 0 || sh.Index >= sh.Of:
			return nil, fmt.Errorf("shard %d/%d among shards of %d", sh.Index, sh.Of, first.Shard.Of)
		case seen[sh.Index]:
			return nil, fmt.Errorf("shard %d/%d twice", sh.Index, sh.Of)
		case s.Mix == nil || s.Accounts == nil || s.Sale == nil || s.DoubleClicks == nil || s.Live == nil:
			return nil, fmt.Errorf("shard %d/%d's report has no sale: its fans did not run", sh.Index, sh.Of)
		case s.Seed != first.Seed || *s.Mix != *first.Mix:
			return nil, fmt.Errorf("shard %d/%d is of another crowd than shard %d/%d (-seed, -cancel, -abandon or -double-click)",
				sh.Index, sh.Of, first.Shard.Index, sh.Of)
		}
		seen[sh.Index] = true
	}
	if len(shards) != first.Shard.Of {
		return nil, fmt.Errorf("%d of %d shards' reports: the crowd is not whole", len(shards), first.Shard.Of)
	}
	return shards, nil
}

// mergeSale is the shards' sales as one, timed on the wall clock (ShardData),
// with the time in line of lineWait.
func mergeSale(shards []*Report, lineWait *histogram) *SaleReport {
	sale := &SaleReport{LineWaitP50ms: ms(lineWait.quantile(0.5)), LineWaitP99ms: ms(lineWait.quantile(0.99)),
		LineWaitMaxMs: ms(lineWait.max)}
	var start, end, soldOutAt time.Time
	var last *Report // the shard that ended last
	for _, s := range shards {
		// Each shard read the tickets on sale as it began: the largest read
		// is the one made before any ticket went, as one process makes it.
		sale.TicketsAtStart = max(sale.TicketsAtStart, s.Sale.TicketsAtStart)
		sale.TicketsBooked += s.Sale.TicketsBooked
		sale.TicketsCancelled += s.Sale.TicketsCancelled
		sale.Admissions += s.Sale.Admissions
		// The crowd's sale began when the first shard's did.
		if start.IsZero() || s.Shard.SaleStart.Before(start) {
			start = s.Shard.SaleStart
		}
		if last == nil || s.Shard.SaleEnd.After(end) {
			last, end = s, s.Shard.SaleEnd
		}
		// A shard's sold_out_at is when its watcher last saw the tickets go.
		// The latest of them is the sell-out: an earlier one may have been
		// undone by tickets coming back (a cancellation, a hold that ran out)
		// after that shard ended, while shards that watched the same last
		// step differ only by their feed's delay.
		if s.Sale.SoldOut && s.Shard.SoldOutAt.After(soldOutAt) {
			soldOutAt = s.Shard.SoldOutAt
		}
	}
	// What was left at the end is what the shard that ended last read then.
	sale.TicketsLeft, sale.TicketsHeld = last.Sale.TicketsLeft, last.Sale.TicketsHeld
	window := end.Sub(start)
	if last.Sale.SoldOut && !soldOutAt.IsZero() {
		sale.SoldOut = true
		window = max(soldOutAt.Sub(start), 0)
		sale.SoldOutSeconds = window.Seconds()
	}
	sale.Seconds = window.Seconds()
	if window > 0 {
		sale.TicketsPerSecond = float64(sale.TicketsBooked) / window.Seconds()
		sale.AdmissionsPerSecond = float64(sale.Admissions) / window.Seconds()
	}
	return sale
}
