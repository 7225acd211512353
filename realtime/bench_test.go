package realtime

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/queue"
)

// fanoutChildEnv, set to "<ws url> <n>", makes the test binary act as
// BenchmarkFanout's clients. They run in their own process so that the
// benchmark's memory figures are the server side's alone, and so that the
// two processes share the 20,000 open files limit rather than one holding both ends.
const fanoutChildEnv = "REALTIME_FANOUT_CHILD"

// firstNumber numbers the benchmark's clients far behind any counter it reaches.
const firstNumber = 1_000_000_000

// BenchmarkFanout measures a hub serving N local clients (REALTIME_FANOUT_N,
// default 2,000; keep it under ~9,000 per process here): server memory per
// connection (bytes/conn), and per tick the time until every client has its
// queue.update (ns/op) and each client's delay from Publish to receipt
// (p50/p99/max-ms). "handler-returns" is the recommended use (Accept, then
// Serve on its own goroutine); "handler-blocks" calls Serve in the handler.
func BenchmarkFanout(b *testing.B) {
	n := 2000
	if s := os.Getenv("REALTIME_FANOUT_N"); s != "" {
		var err error
		n, err = strconv.Atoi(s)
		require.NoError(b, err, "REALTIME_FANOUT_N")
	}
	b.Run("handler-returns", func(b *testing.B) { benchmarkFanout(b, n, false) })
	b.Run("handler-blocks", func(b *testing.B) { benchmarkFanout(b, n, true) })
}

func benchmarkFanout(b *testing.B, n int, blocking bool) {
	rdb := newRedis(b)
	ev := newEventID(b)
	// Every client gets every step: this measures the fan-out, not the pacing.
	hub := NewHub(rdb, Options{WaitingEvery: -1})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		accept := Accept
		if blocking {
			accept = websocket.Accept
		}
		conn, err := accept(w, r, nil)
		if err != nil {
			return
		}
		num, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		info := ClientInfo{EventID: ev, UserID: "u" + strconv.FormatInt(num, 10), Number: num, Status: queue.StatusWaiting}
		if blocking {
			_ = hub.Serve(r.Context(), conn, info, nil)
			return
		}
		go func() { _ = hub.Serve(context.Background(), conn, info, nil) }()
	}))
	b.Cleanup(srv.Close)
	b.Cleanup(func() { _ = hub.Close() })

	before := memInUse()
	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d", fanoutChildEnv, "ws"+strings.TrimPrefix(srv.URL, "http"), n))
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	require.NoError(b, err)
	stdout, err := child.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, child.Start())
	b.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	lines := bufio.NewScanner(stdout)
	expect := func(want string) []string {
		b.Helper()
		require.True(b, lines.Scan(), "client process ended: %v", lines.Err())
		f := strings.Fields(lines.Text())
		require.Equal(b, want, f[0], lines.Text())
		return f[1:]
	}
	expect("ready")
	require.Eventually(b, func() bool { return hub.Clients(ev) == n }, time.Minute, 10*time.Millisecond)
	waitSubscribed(b, rdb, ev, 1)
	perConn := float64(memInUse()-before) / float64(n)

	tick := func(admitted int64) {
		err := hub.Publish(context.Background(), ev, Message{Type: TypeQueueTick, Admitted: admitted, EtaRate: 50, TicketsLeft: 812, Outlook: "good"})
		require.NoError(b, err)
		require.Equal(b, []string{strconv.FormatInt(admitted, 10)}, expect("done"))
	}
	// The first tick grows every writer's stack and faults in pages; it is
	// not timed, and the clients are not told its publish time.
	tick(1)
	b.ResetTimer()
	for i := range b.N {
		admitted := int64(i + 2)
		fmt.Fprintf(stdin, "tick %d %d\n", admitted, time.Now().UnixNano())
		tick(admitted)
	}
	b.StopTimer()
	require.NoError(b, stdin.Close())
	stats := expect("stats")
	b.ReportMetric(perConn, "bytes/conn")
	for i, unit := range []string{"p50-ms", "p99-ms", "max-ms"} {
		ns, err := strconv.ParseInt(stats[i], 10, 64)
		require.NoError(b, err)
		b.ReportMetric(float64(ns)/1e6, unit)
	}
	b.ReportMetric(float64(n), "clients")
}

// memInUse is the live heap and stack after a full collection.
func memInUse() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// fanoutChild connects the clients, reports "done <admitted>" once all of
// them have that tick's queue.update, and at the end of stdin "stats <p50>
// <p99> <max>" in nanoseconds from the publish times read on stdin.
func fanoutChild() int {
	// "<ws url> <n> [<source address> <first number>]": BenchmarkFanoutReplicas
	// gives each client process a loopback address of its own (127.0.0.0/8 is
	// all loopback), so that no source address runs out of ephemeral ports.
	var wsURL, from string
	var n int
	first := int64(firstNumber)
	if _, err := fmt.Sscan(os.Getenv(fanoutChildEnv), &wsURL, &n); err != nil {
		fmt.Fprintln(os.Stderr, "fanout child:", err)
		return 1
	}
	if f := strings.Fields(os.Getenv(fanoutChildEnv)); len(f) == 4 {
		from = f[2]
		first, _ = strconv.ParseInt(f[3], 10, 64)
	}
	opts := &websocket.DialOptions{}
	if from != "" {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 30 * time.Second}
		opts.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	}
	type receipt struct {
		admitted, at int64
	}
	var (
		mu       sync.Mutex
		got      = make(map[int64]int)
		receipts = make([]receipt, 0, n*64)
		out      = bufio.NewWriter(os.Stdout)
	)
	ctx := context.Background()
	read := func(c *websocket.Conn, number int64) {
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			at := time.Now().UnixNano()
			var m struct {
				Position int64 `json:"position"`
			}
			if json.Unmarshal(data, &m) != nil {
				continue
			}
			admitted := number - m.Position
			mu.Lock()
			receipts = append(receipts, receipt{admitted, at})
			if got[admitted]++; got[admitted] == n {
				fmt.Fprintf(out, "done %d\n", admitted)
				_ = out.Flush()
			}
			mu.Unlock()
		}
	}
	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64) // stay under the listen backlog
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, _, err := websocket.Dial(ctx, fmt.Sprintf("%s/?n=%d", wsURL, first+int64(i)), opts)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
			// Read from the start: the server pings every client, and drops
			// one whose pong does not come, which here would be every early
			// client while thousands more connect.
			go read(c, first+int64(i))
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		fmt.Fprintln(os.Stderr, "fanout child: dial:", err)
		return 1
	}
	mu.Lock()
	fmt.Fprintln(out, "ready")
	_ = out.Flush()
	mu.Unlock()

	sent := make(map[int64]int64)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var admitted, at int64
		if _, err := fmt.Sscanf(in.Text(), "tick %d %d", &admitted, &at); err == nil {
			sent[admitted] = at
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var delays []int64
	for _, r := range receipts {
		if at, ok := sent[r.admitted]; ok {
			delays = append(delays, r.at-at)
		}
	}
	slices.Sort(delays)
	pct := func(p float64) int64 {
		if len(delays) == 0 {
			return 0
		}
		return delays[int(p*float64(len(delays)-1))]
	}
	fmt.Fprintf(out, "stats %d %d %d\n", pct(0.5), pct(0.99), pct(1))
	_ = out.Flush()
	return 0
}

// BenchmarkTickUpdate measures what the fan-out costs each waiting client per
// tick: rendering its queue.update from the shared tick, with the outlook the
// same for everyone ("fixed") or from the thresholds ("thresholds").
func BenchmarkTickUpdate(b *testing.B) {
	for _, tt := range []struct {
		name string
		msg  Message
	}{
		{"fixed", Message{Type: TypeQueueTick, Admitted: 1000, EtaRate: 50, TicketsLeft: 812, Outlook: "good"}},
		{"thresholds", Message{Type: TypeQueueTick, Admitted: 1000, EtaRate: 50, TicketsLeft: 812, GoodUntil: 300, UnlikelyFrom: 900}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			t := newTick(&tt.msg, tt.msg.Admitted)
			user := []byte(`"usr_kcgts2ix5zepanq6tfzfop2z"`)
			buf := make([]byte, 0, 256)
			b.ReportAllocs()
			for i := range b.N {
				buf = t.appendUpdate(buf[:0], user, 1001+int64(i%1200))
			}
		})
	}
}
