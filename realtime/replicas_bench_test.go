package realtime

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/queue"
)

// Roles of the test binary in BenchmarkFanoutReplicas, each its own process
// (every process here may hold at most 20,000 open files).
const (
	// replicaChildEnv, set to an event id, makes the binary one replica's
	// live part: a Hub on TEST_REDIS_URL behind a WebSocket server, serving
	// every connection as a fan in that event's line (its number in ?n=).
	replicaChildEnv = "REALTIME_REPLICA_CHILD"
	// echoChildEnv makes it the baseline: a bare coder/websocket echo server,
	// one handler blocked in Read per connection, the way most are written.
	echoChildEnv = "REALTIME_ECHO_CHILD"
)

// BenchmarkFanoutReplicas measures the live feed across replicas, each in a
// process of its own and its clients in another: REALTIME_FANOUT_N clients in
// all (default 3,000), spread over REALTIME_FANOUT_REPLICAS replicas (default
// 3). One admission step is published once on Redis; every replica turns it
// into its own clients' positions. It reports the replicas' resident memory
// per connection (RSS after the clients connected less before, summed, ÷ N:
// bytes/conn, and the Go heap and stacks alone: go-bytes/conn), per step the
// time until every client on every replica has its queue.update (ns/op), and
// each client's delay from the publish to its receipt (p50-ms: the median of
// the client processes' medians; p99-ms and max-ms: the largest of theirs, an
// upper bound of the whole crowd's), and the replicas' CPU time per client
// per step (cpu-us/update). Beside it, in the same run, the baseline:
// a bare coder/websocket echo server holding N/replicas clients
// (echo-bytes/conn).
func BenchmarkFanoutReplicas(b *testing.B) {
	n, replicas := 3000, 3
	for env, v := range map[string]*int{"REALTIME_FANOUT_N": &n, "REALTIME_FANOUT_REPLICAS": &replicas} {
		if s := os.Getenv(env); s != "" {
			var err error
			*v, err = strconv.Atoi(s)
			require.NoError(b, err, env)
		}
	}
	per := n / replicas
	rdb := newRedis(b)
	ev := newEventID(b)

	servers := make([]*child, replicas)
	clients := make([]*child, replicas)
	before := make([]memory, replicas)
	for i := range servers {
		servers[i] = startChild(b, replicaChildEnv+"="+ev)
		before[i] = servers[i].memory(b)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range clients {
		// 127.0.0.10, .11, ...: a source address per client process.
		env := fmt.Sprintf("%s=%s %d 127.0.0.%d %d", fanoutChildEnv, servers[i].url, per, 10+i, firstNumber+i*per)
		clients[i] = startChild(b, env)
		wg.Go(func() { clients[i].expect(b, "ready") })
	}
	wg.Wait()
	for i, s := range servers {
		got := 0
		require.Eventually(b, func() bool { got = s.memory(b).clients; return got == per }, 3*time.Minute, time.Second,
			"replica %d serves %d of its %d clients", i, got, per)
	}
	connected := time.Since(start)
	waitSubscribed(b, rdb, ev, int64(replicas))
	var rss, heap int64
	for i, s := range servers {
		after := s.memory(b)
		rss += after.rss - before[i].rss
		heap += after.goBytes - before[i].goBytes
	}

	hub := NewHub(rdb, Options{}) // publishes only: it has no clients, so no subscription
	b.Cleanup(func() { _ = hub.Close() })
	tick := func(admitted int64, timed bool) {
		for _, c := range clients {
			if timed {
				fmt.Fprintf(c.stdin, "tick %d %d\n", admitted, time.Now().UnixNano())
			}
		}
		err := hub.Publish(context.Background(), ev, Message{Type: TypeQueueTick, Admitted: admitted, EtaRate: 50, TicketsLeft: 812, Outlook: "good"})
		require.NoError(b, err)
		for _, c := range clients {
			require.Equal(b, []string{strconv.FormatInt(admitted, 10)}, c.expect(b, "done"))
		}
	}
	tick(1, false) // warms every writer's stack; not timed
	cpuBefore := make([]time.Duration, replicas)
	for i, s := range servers {
		cpuBefore[i] = s.memory(b).cpu
	}
	b.ResetTimer()
	for i := range b.N {
		tick(int64(i+2), true)
	}
	b.StopTimer()
	// The replicas' CPU per client per step: what a step costs wherever it
	// runs, unlike its delay, which on a shared machine is mostly waiting
	// for a core. (The two collections memory makes add a little.)
	var cpu time.Duration
	for i, s := range servers {
		cpu += s.memory(b).cpu - cpuBefore[i]
	}
	var p50s []float64
	var p99, most float64
	for _, c := range clients {
		require.NoError(b, c.stdin.Close())
		stats := c.expect(b, "stats")
		ms := func(i int) float64 {
			ns, err := strconv.ParseInt(stats[i], 10, 64)
			require.NoError(b, err)
			return float64(ns) / 1e6
		}
		p50s = append(p50s, ms(0))
		p99, most = max(p99, ms(1)), max(most, ms(2))
	}
	slices.Sort(p50s)

	// The baseline, in the same run: as many clients on a bare echo server.
	echo := startChild(b, echoChildEnv+"=1")
	echoBefore := echo.memory(b)
	echoClients := startChild(b, fmt.Sprintf("%s=%s %d 127.0.0.%d %d", fanoutChildEnv, echo.url, per, 10+replicas, firstNumber))
	echoClients.expect(b, "ready")
	require.Eventually(b, func() bool { return echo.memory(b).clients == per }, time.Minute, 50*time.Millisecond)
	echoAfter := echo.memory(b)

	b.ReportMetric(float64(rss)/float64(per*replicas), "bytes/conn")
	b.ReportMetric(float64(heap)/float64(per*replicas), "go-bytes/conn")
	b.ReportMetric(float64(echoAfter.rss-echoBefore.rss)/float64(per), "echo-bytes/conn")
	b.ReportMetric(p50s[len(p50s)/2], "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(most, "max-ms")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*per*replicas), "cpu-us/update")
	b.ReportMetric(float64(per*replicas), "clients")
	b.ReportMetric(float64(replicas), "replicas")
	b.ReportMetric(connected.Seconds(), "connect-s")
}

// child is one process of the benchmark: it speaks in lines on stdin and stdout.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines *bufio.Scanner
	url   string // a server's WebSocket URL
	mu    sync.Mutex
}

func startChild(b *testing.B, env string) *child {
	b.Helper()
	c := &child{cmd: exec.Command(os.Args[0], "-test.run=^$")}
	c.cmd.Env = append(os.Environ(), env)
	c.cmd.Stderr = os.Stderr
	var err error
	c.stdin, err = c.cmd.StdinPipe()
	require.NoError(b, err)
	out, err := c.cmd.StdoutPipe()
	require.NoError(b, err)
	c.lines = bufio.NewScanner(out)
	require.NoError(b, c.cmd.Start())
	b.Cleanup(func() { _ = c.cmd.Process.Kill(); _ = c.cmd.Wait() })
	if !strings.HasPrefix(env, fanoutChildEnv) {
		c.url = c.expect(b, "listening")[0]
	}
	return c
}

func (c *child) expect(b *testing.B, want string) []string {
	b.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	require.True(b, c.lines.Scan(), "child process ended: %v", c.lines.Err())
	f := strings.Fields(c.lines.Text())
	require.Equal(b, want, f[0], c.lines.Text())
	return f[1:]
}

// memory is a server process's resident set, Go heap and stacks, and clients.
type memory struct {
	rss, goBytes int64
	clients      int
	cpu          time.Duration // the process's CPU time so far, user and system
}

func (c *child) memory(b *testing.B) memory {
	b.Helper()
	fmt.Fprintln(c.stdin, "mem")
	f := c.expect(b, "mem")
	var m memory
	var err error
	m.rss, err = strconv.ParseInt(f[0], 10, 64)
	require.NoError(b, err)
	m.goBytes, err = strconv.ParseInt(f[1], 10, 64)
	require.NoError(b, err)
	m.clients, err = strconv.Atoi(f[2])
	require.NoError(b, err)
	ns, err := strconv.ParseInt(f[3], 10, 64)
	require.NoError(b, err)
	m.cpu = time.Duration(ns)
	return m
}

// serverChild runs a replica's live part (event != "") or the echo baseline
// until stdin ends, answering "mem" with "mem <rss> <go heap+stacks> <clients>".
func serverChild(event string) int {
	var handler http.HandlerFunc
	var clients func() int
	if event != "" {
		rdb, err := redisFromEnv()
		if err != nil {
			fmt.Fprintln(os.Stderr, "replica child:", err)
			return 1
		}
		// Pings are not what is measured, and on a loaded shared machine a
		// client process with thousands of sockets may answer one late: the
		// benchmark must not lose clients to that.
		// Every client gets every step: this measures the fan-out, not the pacing.
		hub := NewHub(rdb, Options{PingInterval: time.Hour, WaitingEvery: -1})
		defer hub.Close()
		handler = func(w http.ResponseWriter, r *http.Request) {
			conn, err := Accept(w, r, nil)
			if err != nil {
				return
			}
			num, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
			info := ClientInfo{EventID: event, UserID: "u" + strconv.FormatInt(num, 10), Number: num, Status: queue.StatusWaiting}
			go func() { _ = hub.Serve(context.Background(), conn, info, nil) }()
		}
		clients = func() int { return hub.Clients(event) }
	} else {
		var mu sync.Mutex
		open := 0
		handler = func(w http.ResponseWriter, r *http.Request) {
			conn, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			mu.Lock()
			open++
			mu.Unlock()
			defer func() { mu.Lock(); open--; mu.Unlock() }()
			for {
				typ, data, err := conn.Read(context.Background())
				if err != nil {
					return
				}
				if err := conn.Write(context.Background(), typ, data); err != nil {
					return
				}
			}
		}
		clients = func() int { mu.Lock(); defer mu.Unlock(); return open }
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "server child:", err)
		return 1
	}
	go func() { _ = http.Serve(ln, handler) }()
	fmt.Printf("listening ws://%s\n", ln.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "mem" {
			var ru syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			fmt.Printf("mem %d %d %d %d\n", residentBytes(), memInUse(), clients(), cpu.Nanoseconds())
		}
	}
	return 0
}

// residentBytes is the process's resident set size, from /proc (Linux), after
// a collection has returned what it can.
func residentBytes() int64 {
	runtime.GC()
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// redisFromEnv connects to TEST_REDIS_URL (one node) outside a test.
func redisFromEnv() (redis.UniversalClient, error) {
	o, err := redis.ParseURL(os.Getenv("TEST_REDIS_URL"))
	if err != nil {
		return nil, fmt.Errorf("TEST_REDIS_URL: %w", err)
	}
	return redis.NewClient(o), nil
}
