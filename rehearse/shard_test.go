package rehearse

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseShard(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give    string
		want    Shard
		wantErr bool
	}{
		{give: "0/1", want: Shard{0, 1}},
		{give: "2/4", want: Shard{2, 4}},
		{give: " 3/4 ", want: Shard{3, 4}},
		{give: "4/4", wantErr: true},
		{give: "-1/4", wantErr: true},
		{give: "0/0", wantErr: true},
		{give: "1", wantErr: true},
		{give: "a/b", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseShard(tt.give)
		if tt.wantErr {
			require.ErrorContains(t, err, "-shard is malformed", tt.give)
			continue
		}
		require.NoError(t, err, tt.give)
		require.Equal(t, tt.want, got)
	}
}

// The shards of a crowd are the crowd: every fan in exactly one shard, the
// same fan (account, choices, observer or not) as in the whole crowd.
func TestShardsPartitionTheFans(t *testing.T) {
	t.Parallel()
	const fans = 700 // more than maxObservers: a sample of fans observe
	cfg := Config{Fans: fans, Seed: 9, Concurrency: 1, Cancel: 0.3, Abandon: 0.2, DoubleClick: 0.5, Prefix: "p"}
	describe := func(f *fan) string {
		return fmt.Sprintf("%s want %d named %t plan %d double %t oneKey %t obs %d",
			f.email, f.want, f.named, f.plan, f.double, f.oneKey, f.obs)
	}
	made := func(sh Shard) []*fan {
		c := cfg
		c.Shard = sh
		r := newRun(c)
		r.ev = &eventInfo{MaxTicketsPerUser: 6}
		return r.makeFans()
	}
	whole := map[int]string{}
	for _, f := range made(Shard{}) {
		whole[f.n] = describe(f)
	}
	require.Len(t, whole, fans)
	for _, of := range []int{2, 3, 7} {
		seen := map[int]string{}
		for i := range of {
			sh := Shard{Index: i, Of: of}
			fs := made(sh)
			require.Len(t, fs, sh.size(fans), "shard %s", sh)
			for _, f := range fs {
				require.NotContains(t, seen, f.n, "fan %d in two of %d shards", f.n, of)
				require.Equal(t, i, (f.n-1)%of, "fan %d in shard %s", f.n, sh)
				seen[f.n] = describe(f)
			}
		}
		require.Equal(t, whole, seen, "%d shards", of)
	}
}

// Shards' reports merged are the report one process would have made of every
// sample: the same counts, and the same percentiles from the same histograms
// (through JSON, as the reports travel).
func TestMergeIsOneReport(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	routes := []string{"POST /api/v1/tickets/reserve", "POST /api/v1/payments", "GET /api/v1/events/{id}"}
	all, parts := newRecorder(), []*recorder{newRecorder(), newRecorder(), newRecorder()}
	allDelays, partDelays := newDelays(time.Second), []*delays{newDelays(time.Second), newDelays(time.Second), newDelays(time.Second)}
	var allWait histogram
	partWait := make([]histogram, len(parts))
	for i := range 30_000 {
		p := rng.IntN(len(parts))
		// Long tails, so that the percentiles fall in the log part of the buckets.
		took := time.Duration(rng.ExpFloat64() * float64(20*time.Millisecond))
		route, status, code := routes[i%len(routes)], 200, ""
		if i%97 == 0 {
			status, code = 409, "seat_taken"
		}
		all.exchange(route, took, status, code)
		parts[p].exchange(route, took, status, code)
		for _, d := range []*delays{allDelays, partDelays[p]} {
			d.histOf("seat.update").add(took / 3)
		}
		allWait.add(took * 50)
		partWait[p].add(took * 50)
	}

	start := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	var reps []*Report
	for i, rec := range parts {
		rep := &Report{EventID: "ev", Fans: 10, Seed: 5, Mix: &Mix{Cancel: 0.1},
			Accounts: &AccountsReport{Ready: 10, Seconds: float64(i)}, Outcomes: map[string]int{"bought": 6, "sold_out": 4},
			Endpoints: rec.endpoints(), Errors: rec.errorCounts(), DoubleClicks: &DoubleClicks{Pairs: 2},
			Live: &LiveReport{Connects: 11, Messages: map[string]int{"seat.update": 100}, Delays: partDelays[i].report()},
			Sale: &SaleReport{TicketsAtStart: 300, TicketsBooked: 100, Admissions: 10, SoldOut: true},
			Shard: &ShardData{Index: i, Of: len(parts), Endpoints: rec.histograms(), Delays: partDelays[i].histograms(),
				LineWait: partWait[i].export(),
				// Shard 2 starts first, shard 1 ends last; the last sell-out seen is at 40 s.
				SaleStart: start.Add(time.Duration(2-i) * time.Second), SaleEnd: start.Add(time.Duration(50+i%2*10) * time.Second),
				SoldOutAt: start.Add(time.Duration(38+i) * time.Second)},
		}
		rep.Checks = clientChecks(rep)
		raw, err := json.Marshal(rep)
		require.NoError(t, err)
		var back Report
		require.NoError(t, json.Unmarshal(raw, &back))
		reps = append(reps, &back)
	}
	reps = append(reps, &Report{EventID: "ev", SettleSeconds: new(1.5), Checks: []Check{
		{Name: "zone_counts", Source: "database", OK: true}, {Name: "fan_limit", Source: "database", OK: true}}})

	m, err := Merge(reps...)
	require.NoError(t, err)
	require.Equal(t, all.endpoints(), m.Endpoints)
	require.Equal(t, all.errorCounts(), m.Errors)
	require.Equal(t, allDelays.report(), m.Live.Delays)
	s := m.Sale
	require.Equal(t, []float64{ms(allWait.quantile(0.5)), ms(allWait.quantile(0.99)), ms(allWait.max)},
		[]float64{s.LineWaitP50ms, s.LineWaitP99ms, s.LineWaitMaxMs})

	require.Equal(t, 30, m.Fans)
	require.Equal(t, 3, m.Shards)
	require.Equal(t, map[string]int{"bought": 18, "sold_out": 12}, m.Outcomes)
	require.Equal(t, 30, m.Accounts.Ready)
	require.Equal(t, 2.0, m.Accounts.Seconds, "shards make their accounts side by side")
	require.Equal(t, 6, m.DoubleClicks.Pairs)
	require.Equal(t, 33, m.Live.Connects)
	require.Equal(t, 300, m.Live.Messages["seat.update"])
	require.Equal(t, 300, s.TicketsBooked)
	require.Equal(t, 30, s.Admissions)
	require.EqualValues(t, 300, s.TicketsAtStart)
	require.True(t, s.SoldOut)
	require.Equal(t, 40.0, s.SoldOutSeconds, "from the first shard's start to the last sell-out seen")
	require.Equal(t, 40.0, s.Seconds)
	require.Equal(t, 300/40.0, s.TicketsPerSecond)

	require.Equal(t, 1.5, *m.SettleSeconds)
	require.True(t, m.OK, "%+v", m.Checks)
	var names []string
	for _, c := range m.Checks {
		names = append(names, c.Name)
	}
	require.Equal(t, []string{"zone_counts", "fan_limit", "no_internal_errors", "double_clicks_answered_once"}, names)

	// A check broken in one report is broken in the merged one, with its detail.
	broken := &Report{EventID: "ev", Checks: []Check{{Name: "fan_limit", Source: "database", Detail: "1 fan over"}}}
	m, err = Merge(append(reps, broken)...)
	require.NoError(t, err)
	require.False(t, m.OK)
	require.Equal(t, []string{"fan_limit"}, m.Broken())
	require.Equal(t, "1 fan over", m.Checks[1].Detail)
}

// Merge refuses reports that are not one crowd's shards.
func TestMergeRefusesOtherCrowds(t *testing.T) {
	t.Parallel()
	shard := func(i, of int, seed int64, event string) *Report {
		return &Report{EventID: event, Seed: seed, Mix: &Mix{}, Accounts: &AccountsReport{}, Sale: &SaleReport{},
			DoubleClicks: &DoubleClicks{}, Live: &LiveReport{}, Shard: &ShardData{Index: i, Of: of}}
	}
	tests := []struct {
		name string
		give []*Report
		want string
	}{
		{name: "none", give: nil, want: "no shard's report"},
		{name: "a shard missing", give: []*Report{shard(0, 3, 1, "ev"), shard(2, 3, 1, "ev")}, want: "2 of 3 shards"},
		{name: "a shard twice", give: []*Report{shard(0, 2, 1, "ev"), shard(0, 2, 1, "ev")}, want: "shard 0/2 twice"},
		{name: "other seeds", give: []*Report{shard(0, 2, 1, "ev"), shard(1, 2, 2, "ev")}, want: "another crowd"},
		{name: "other counts", give: []*Report{shard(0, 2, 1, "ev"), shard(1, 3, 1, "ev")}, want: "among shards of 2"},
		{name: "other events", give: []*Report{shard(0, 2, 1, "ev"), shard(1, 2, 1, "ev2")}, want: "two events"},
		{name: "a whole crowd", give: []*Report{{EventID: "ev", Mix: &Mix{}}}, want: "no shard's"},
	}
	for _, tt := range tests {
		_, err := Merge(tt.give...)
		require.ErrorContains(t, err, tt.want, tt.name)
	}
}
