// Package rehearsetest runs a rehearse crowd during a fault, for the tests
// that show a fault costs no invariant (the root package's against serve,
// web's against the app).
package rehearsetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/rehearse"
)

// Booked is how many of the event's tickets are booked, -1 when the database
// does not answer (it may be the fault).
func Booked(q rehearse.Querier, eventID string) int {
	var n int
	if err := q.QueryRow(context.Background(),
		`SELECT count(*) FROM tickets WHERE event_id = $1 AND status = 'BOOKED'`, eventID).Scan(&n); err != nil {
		return -1
	}
	return n
}

// Crowd lets the crowd of cfg loose and, once its first tickets are booked,
// calls fault (nil: none). It requires every check of the report, the
// database's invariants (cfg.DB) among them, to hold, and returns the report
// and how many tickets were booked when the fault struck.
func Crowd(t testing.TB, cfg rehearse.Config, fault func()) (*rehearse.Report, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type result struct {
		rep *rehearse.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := rehearse.Run(ctx, cfg)
		done <- result{rep, err}
	}()
	before := 0
	if fault != nil {
		require.Eventually(t, func() bool { return Booked(cfg.DB, cfg.EventID) >= 3 }, time.Minute, 10*time.Millisecond,
			"the sale books its first tickets")
		before = Booked(cfg.DB, cfg.EventID)
		fault()
	}
	r := <-done
	require.NoError(t, r.err)
	var text bytes.Buffer
	require.NoError(t, r.rep.WriteText(&text))
	t.Log("\n" + text.String())
	require.True(t, r.rep.OK, "broken: %v", r.rep.Broken())
	require.Len(t, r.rep.Checks, 6, "the database's four invariants and the client's two")
	return r.rep, before
}
