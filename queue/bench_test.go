package queue_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boxofficehq/boxoffice/queue"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// redisCalls is the total number of commands Redis has executed, those run
// inside scripts included (INFO commandstats).
func redisCalls(b *testing.B, rdb redis.UniversalClient) int64 {
	b.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, line := range strings.Split(info, "\n") {
		if _, rest, ok := strings.Cut(line, "calls="); ok {
			n, _ := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
			total += n
		}
	}
	return total
}

// BenchmarkAdmissionStep measures Redis commands per admission step with 10,000
// and 100,000 fans in line: the work of a step must not grow with the line.
// Each step admits up to 10 fans, who then leave, so every step does real work.
// Run it alone: INFO counts every client's commands.
func BenchmarkAdmissionStep(b *testing.B) {
	for _, size := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("line=%d", size), func(b *testing.B) {
			f := newFixture(b, 10)
			ctx := context.Background()
			f.open()
			fill(b, f, size)
			b.ResetTimer()
			before := redisCalls(b, f.rdb)
			admitted := 0
			for range b.N {
				s, err := f.a.Admit(ctx, f.ev)
				if err != nil {
					b.Fatal(err)
				}
				admitted += len(s.Users)
				b.StopTimer()
				for _, u := range s.Users {
					if _, err := f.a.Leave(ctx, f.ev.ID, u); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
			}
			b.StopTimer()
			calls := redisCalls(b, f.rdb) - before - int64(admitted) - 1 // minus the leaves and this INFO
			b.ReportMetric(float64(calls)/float64(b.N), "redis-cmds/step")
			b.ReportMetric(float64(admitted)/float64(b.N), "admitted/step")
		})
	}
}

// fill puts n fans in line with pipelined join scripts.
func fill(b *testing.B, f *fixture, n int) {
	b.Helper()
	ctx := context.Background()
	const batch = 1000
	for start := 0; start < n; start += batch {
		var wg = make(chan error, batch)
		for i := start; i < min(start+batch, n); i++ {
			go func() {
				_, err := f.b.Join(ctx, f.ev, "u"+strconv.Itoa(i))
				wg <- err
			}()
		}
		for i := start; i < min(start+batch, n); i++ {
			if err := <-wg; err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkJoinCrowd puts QUEUE_CROWD fans (default 1,000,000; docs/BENCHMARKS.md
// uses 10,000,000) in one event's open line through JoinMany, in pipelines of
// 1,000 from 8 goroutines, on a Redis server of its own (started here from the
// redis-server on PATH, so that its memory is the line's alone). It reports
// joins per second and Redis memory per fan and in all. Run it once:
//
//	QUEUE_CROWD=10000000 go test -run '^$' -bench JoinCrowd -benchtime 1x -timeout 30m ./queue/
func BenchmarkJoinCrowd(b *testing.B) {
	crowd := 1_000_000
	if v := os.Getenv("QUEUE_CROWD"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(b, err, "QUEUE_CROWD")
		crowd = n
	}
	rdb := ownRedis(b)
	ctx := context.Background()
	opens := time.Now().Add(-time.Minute)
	ev := queue.Event{ID: "crowd", LobbyOpensAt: opens.Add(-time.Hour), SaleOpensAt: opens, ClosesAt: opens.Add(24 * time.Hour),
		MaxActive: 1000, Claim: time.Minute, Hold: 10 * time.Minute, Presence: 5 * time.Minute}
	q := queue.New(rdb, time.Now)
	before := usedMemory(b, rdb)
	const batch, workers = 1000, 8
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			users := make([]string, 0, batch)
			for from := int(next.Add(batch)) - batch; from < crowd; from = int(next.Add(batch)) - batch {
				users = users[:0]
				for i := from; i < min(from+batch, crowd); i++ {
					users = append(users, "usr_"+strconv.Itoa(i))
				}
				if err := q.JoinMany(ctx, ev, users); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	mem := usedMemory(b, rdb) - before
	counts, err := q.Counts(ctx, ev.ID)
	require.NoError(b, err)
	require.EqualValues(b, crowd, counts.Length, "every fan has a place")
	b.ReportMetric(elapsed.Seconds(), "s")
	b.ReportMetric(float64(crowd)/elapsed.Seconds(), "joins/s")
	b.ReportMetric(float64(mem)/float64(crowd), "redis-bytes/fan")
	b.ReportMetric(float64(mem)/(1<<20), "redis-MiB")
}

// ownRedis starts a redis-server of the benchmark's own on a free port and
// connects to it.
func ownRedis(b *testing.B) redis.UniversalClient {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := b.TempDir()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", dir)
	require.NoError(b, cmd.Start(), "redis-server on PATH")
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), PoolSize: 16})
	b.Cleanup(func() { rdb.Close() })
	require.Eventually(b, func() bool { return rdb.Ping(context.Background()).Err() == nil }, 10*time.Second, 20*time.Millisecond)
	return rdb
}

func usedMemory(b *testing.B, rdb redis.UniversalClient) int64 {
	b.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	require.NoError(b, err)
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(b, err)
			return n
		}
	}
	b.Fatal("no used_memory in INFO")
	return 0
}
