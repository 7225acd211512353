package rehearse

import (
	"fmt"
	"math/bits"
	"time"
)

// histogram counts durations in log-linear buckets (64 per power of two, so a
// quantile is within 1.6 % of the truth) in fixed memory, whatever the number of
// samples: a run of millions of requests keeps a few KB per endpoint. The
// maximum is exact.
type histogram struct {
	counts [64 * 40]uint32 // 2^40 µs is 12 days
	n      int
	max    time.Duration
}

const subBuckets = 64

func bucketOf(us uint64) int {
	if us < subBuckets {
		return int(us)
	}
	shift := bits.Len64(us) - 7 // keeps the top 7 bits: 64..127
	i := (shift+1)*subBuckets + int(us>>shift) - subBuckets
	return min(i, len(histogram{}.counts)-1)
}

// lowest is the smallest value in bucket i, in µs.
func lowest(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	shift := i/subBuckets - 1
	return uint64(i%subBuckets+subBuckets) << shift
}

func (h *histogram) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d.Microseconds()))]++
	h.n++
	h.max = max(h.max, d)
}

// quantile is the value below which a share q of the samples lie (the bucket's
// lower edge), never more than the maximum.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int(q*float64(h.n)+0.5) - 1
	rank = max(rank, 0)
	seen := 0
	for i, c := range h.counts {
		seen += int(c)
		if seen > rank {
			return min(time.Duration(lowest(i))*time.Microsecond, h.max)
		}
	}
	return h.max
}

// Histogram is a histogram as a shard's report carries it (ShardData), so
// that Merge adds shards' samples exactly: the non-empty buckets and the
// maximum.
type Histogram struct {
	N       int        `json:"n"`
	MaxNs   int64      `json:"max_ns"`
	Buckets [][2]int64 `json:"buckets"` // bucket index, count; in order
}

func (h *histogram) export() *Histogram {
	x := &Histogram{N: h.n, MaxNs: int64(h.max), Buckets: [][2]int64{}}
	for i, c := range h.counts {
		if c > 0 {
			x.Buckets = append(x.Buckets, [2]int64{int64(i), int64(c)})
		}
	}
	return x
}

// merge adds x's samples; nil adds none.
func (h *histogram) merge(x *Histogram) error {
	if x == nil {
		return nil
	}
	for _, b := range x.Buckets {
		if b[0] < 0 || b[0] >= int64(len(h.counts)) || b[1] < 0 {
			return fmt.Errorf("histogram bucket %d (count %d) is out of range", b[0], b[1])
		}
	}
	for _, b := range x.Buckets {
		h.counts[b[0]] += uint32(b[1])
	}
	h.n += x.N
	h.max = max(h.max, time.Duration(x.MaxNs))
	return nil
}
