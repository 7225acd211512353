package queue_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
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
