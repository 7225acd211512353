package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/rehearse"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// rehearsal is an event (a pool of 30 and a row of 10 seats) and
// the accounts of 20 fans, <prefix>-<n>@rehearse.example, made with the
// store's cheap test hash.
func rehearsal(t *testing.T, name string) (*store.DB, *store.Event, string) {
	t.Helper()
	db := storetest.DB(t)
	ev := storetest.Event(t, db, storetest.Organizer(t, db).ID, 30, store.Row{Row: "A", Seats: 10})
	storetest.CleanRedis(t, storetest.Redis(t), ev.ID)
	prefix := strings.ToLower(store.NewID(name))
	for n := 1; n <= 20; n++ {
		_, err := db.CreateUser(context.Background(), store.Registration{Name: "Fan",
			Email: fmt.Sprintf("%s-%d@rehearse.example", prefix, n), Password: "rehearse-password"}, store.RoleFan)
		require.NoError(t, err)
	}
	return db, ev, prefix
}

// `boxoffice rehearse` against a real serve: one JSON document on stdout and
// progress lines on stderr; fans sign in to accounts made before with the same
// -prefix (here by the test, with a cheap password hash: serve's own costs
// seconds under the race detector); the check alone (-fans 0) reads
// DATABASE_URL, has no default database, and once an invariant is broken in the
// database, exits 1 naming it.
func TestRehearseCommand(t *testing.T) {
	t.Parallel()
	srv := startServe(t, nil)
	db, ev, prefix := rehearsal(t, "cli")
	ctx := context.Background()
	hold := 8
	_, err := db.UpdateEvent(ctx, ev.ID, store.Settings{HoldSeconds: &hold})
	require.NoError(t, err)

	stdout, stderr, err := runStreams(t, nil, "rehearse", "-url", srv.base, "-event", ev.ID, "-fans", "20",
		"-prefix", prefix, "-seed", "5", "-duration", "1m", "-json", "-database-url", storetest.URL(t))
	require.NoError(t, err, "stderr: %s", stderr)
	require.Contains(t, stderr, "in line", "progress lines on stderr")
	var rep rehearse.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), "stdout is one JSON document: %s", stdout)
	require.True(t, rep.OK, "%s", stdout)
	require.Equal(t, 20, rep.Accounts.Reused, "%s", stdout)
	require.Positive(t, rep.Sale.TicketsBooked)

	// DATABASE_URL is read as by every command, but rehearse has no default one.
	check := []string{"rehearse", "-url", srv.base, "-event", ev.ID, "-fans", "0"}
	_, err = runWith(t, nil, check...)
	require.ErrorContains(t, err, "give -database-url")
	_, err = runWith(t, map[string]string{"DATABASE_URL": storetest.URL(t)}, check...)
	require.NoError(t, err)

	_, err = storetest.Pool(t).Exec(ctx, `
		UPDATE tickets SET status = 'AVAILABLE', hold_id = NULL, booking_id = NULL
		WHERE id = (SELECT id FROM tickets WHERE event_id = $1 AND status = 'BOOKED' LIMIT 1)`, ev.ID)
	require.NoError(t, err)
	code, stdout, stderr := runProcess(t, nil, "rehearse", "-url", srv.base, "-event", ev.ID, "-fans", "0",
		"-database-url", storetest.URL(t))
	require.Equal(t, 1, code, "stdout: %s\nstderr: %s", stdout, stderr)
	require.Contains(t, stdout, "BROKEN")
	require.Equal(t, "boxoffice: rehearse: broken: ticket_booked_once, zone_counts\n", stderr)
}

// A crowd run as two shards side by side (-shard i/2), checked once both have
// ended (-fans 0), and merged (rehearse merge) is one report of the whole crowd: its
// counts are the shards' sums, and every check holds.
func TestRehearseShards(t *testing.T) {
	t.Parallel()
	srv := startServe(t, nil)
	_, ev, prefix := rehearsal(t, "shard")
	dir := t.TempDir()
	rehearseTo := func(out string, args ...string) {
		args = append([]string{"rehearse", "-url", srv.base, "-event", ev.ID, "-json"}, args...)
		stdout, stderr, err := runStreams(t, nil, args...)
		require.NoError(t, err, "stderr: %s", stderr)
		require.NoError(t, os.WriteFile(filepath.Join(dir, out), []byte(stdout), 0o600))
	}
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			rehearseTo(fmt.Sprintf("%d.json", i), "-fans", "20", "-prefix", prefix, "-seed", "5", "-duration", "1m",
				"-shard", fmt.Sprintf("%d/2", i))
		})
	}
	wg.Wait()
	rehearseTo("check.json", "-fans", "0", "-database-url", storetest.URL(t))

	var shards [2]rehearse.Report
	for i := range shards {
		raw, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%d.json", i)))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, &shards[i]))
		require.Equal(t, 10, shards[i].Fans)
		require.Equal(t, i, shards[i].Shard.Index)
	}
	stdout, stderr, err := runStreams(t, nil, "rehearse", "merge", "-json",
		filepath.Join(dir, "0.json"), filepath.Join(dir, "1.json"), filepath.Join(dir, "check.json"))
	require.NoError(t, err, "stderr: %s", stderr)
	var m rehearse.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &m), stdout)
	require.True(t, m.OK, "%s", stdout)
	require.Len(t, m.Checks, 6, "the database's four invariants and the client's two")
	require.Equal(t, 20, m.Fans)
	require.Equal(t, 20, m.Accounts.Reused)
	require.Equal(t, shards[0].Sale.TicketsBooked+shards[1].Sale.TicketsBooked, m.Sale.TicketsBooked)
	require.Positive(t, m.Sale.TicketsBooked)
	outcomes := 0
	for _, n := range m.Outcomes {
		outcomes += n
	}
	require.Equal(t, 20, outcomes, "%v", m.Outcomes)
	requests := func(rep rehearse.Report) (n int) {
		for _, e := range rep.Endpoints {
			n += e.Requests
		}
		return n
	}
	require.Equal(t, requests(shards[0])+requests(shards[1]), requests(m))
	require.Nil(t, m.Shard, "the merged report carries no histograms")

	text, err := runWith(t, nil, "rehearse", "merge", filepath.Join(dir, "0.json"), filepath.Join(dir, "1.json"))
	require.NoError(t, err)
	t.Log("\n" + text)
	require.Contains(t, text, "20 fans in 2 shards")
	_, err = runWith(t, nil, "rehearse", "merge", filepath.Join(dir, "0.json"))
	require.ErrorContains(t, err, "1 of 2 shards")
}
