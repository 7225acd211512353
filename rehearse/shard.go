package rehearse

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Shard is one part of a crowd too big for one process (each fan holds a
// socket or two, and a process has only so many files): the fans whose index
// k, from 0, has k % Of == Index. They are the fans the whole crowd would have
// at those indexes, with the same accounts and the same choices, so the
// shards of one seed together are that crowd, and Merge makes one report of
// their reports. The zero value is the whole crowd.
type Shard struct {
	Index, Of int
}

// ParseShard reads "i/n", as -shard takes it.
func ParseShard(v string) (Shard, error) {
	i, n, ok := strings.Cut(strings.TrimSpace(v), "/")
	index, err1 := strconv.Atoi(i)
	of, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || of < 1 || index < 0 || index >= of {
		return Shard{}, fmt.Errorf("-shard is malformed: want i/n with 0 <= i < n, such as 0/4, got %q", v)
	}
	return Shard{Index: index, Of: of}, nil
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, max(s.Of, 1)) }

// whole says the shard is the whole crowd.
func (s Shard) whole() bool { return s.Of <= 1 }

// size is how many of a crowd of fans are in the shard.
func (s Shard) size(fans int) int {
	if s.whole() {
		return fans
	}
	return max(fans-s.Index+s.Of-1, 0) / s.Of
}

func (s Shard) validate(c *Config) error {
	switch {
	case s.whole():
		return nil
	case s.Index < 0 || s.Index >= s.Of:
		return fmt.Errorf("-shard is malformed: want i/n with 0 <= i < n, got %s", s)
	case c.Seed == 0:
		return fmt.Errorf("-shard %s needs -seed: every shard must make the same crowd's choices", s)
	case c.Fans > 0 && c.Fans < s.Of:
		return fmt.Errorf("-shard %s: %d fans are fewer than the shards", s, c.Fans)
	}
	return nil
}

// ShardData is what a shard's report carries for Merge beyond what people
// read: its histograms, exact, and the sale's moments on the wall clock, since
// each shard measures time from its own start. Shards on one machine share the
// clock; on several, it is as good as their clocks agree.
type ShardData struct {
	Index     int       `json:"index"`
	Of        int       `json:"of"`
	SaleStart time.Time `json:"sale_start"` // the start of SaleReport's window
	SaleEnd   time.Time `json:"sale_end"`   // when this shard's sale phase ended
	SoldOutAt time.Time `json:"sold_out_at,omitzero"`
	// Endpoints are the latencies by route, Delays the live delays by kind
	// (type, or "seat.update after answer"), LineWait the time in line.
	Endpoints map[string]*Histogram `json:"endpoints"`
	Delays    map[string]*Histogram `json:"delays"`
	LineWait  *Histogram            `json:"line_wait"`
}
