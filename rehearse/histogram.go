package rehearse

import (
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
