package inventory_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boxofficehq/boxoffice/inventory"
)

// BenchmarkHoldSeats holds one random seat of a 100,000-seat zone per call, from
// parallel clients, as fans picking seats on a map do. Taken seats count as
// calls too (the script does the same work to refuse them). Compare ops/s only
// within one run: see notes/machine-limits.md.
func BenchmarkHoldSeats(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	rows := make([]string, 1000)
	for i := range rows {
		rows[i] = strings.Repeat("0", 100)
	}
	z := seated("VIP", rows...)
	f.load(b, z)
	f.admit(b, "fan")
	var n, won atomic.Int64
	b.SetParallelism(8) // many clients in flight, as many replicas send
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			seat := z.Tickets[rand.IntN(len(z.Tickets))].SeatID
			_, err := f.inv.HoldSeats(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "fan", HoldID: fmt.Sprintf("h%d", i), Seats: []string{seat}})
			switch {
			case err == nil:
				won.Add(1)
			case !errors.Is(err, inventory.ErrSeatTaken):
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "ops/s")
	b.ReportMetric(float64(won.Load())/float64(max(n.Load(), 1)), "held/op")
}
