package inventory

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// ZoneCounts are a zone's live ticket counts.
type ZoneCounts struct {
	ZoneID    string
	Available int
	Held      int
	Booked    int
}

// Counts reads every zone's counts from Redis alone, in the order of the event's
// zones. Each zone's three counts are read together, so they agree.
func (inv *Inventory) Counts(ctx context.Context, eventID string) ([]ZoneCounts, error) {
	zones, err := inv.zones(ctx, eventID)
	if err != nil {
		return nil, err
	}
	cmds := make([]*redis.SliceCmd, len(zones))
	_, err = inv.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, z := range zones {
			cmds[i] = p.HMGet(ctx, zoneKeysOf(eventID, z).meta, "avail", "held", "booked")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("counts of %s: %w", eventID, err)
	}
	out := make([]ZoneCounts, len(zones))
	for i, z := range zones {
		v := cmds[i].Val()
		out[i] = ZoneCounts{ZoneID: z, Available: atoi(v[0]), Held: atoi(v[1]), Booked: atoi(v[2])}
	}
	return out, nil
}

func atoi(v any) int {
	s, _ := v.(string)
	n, _ := strconv.Atoi(s)
	return n
}

// statusOf names a state byte.
func statusOf(b byte) TicketStatus {
	switch b {
	case '0':
		return Available
	case '1':
		return Reserved
	case '2':
		return Booked
	}
	return "UNKNOWN"
}

// Seats reads a seated zone's seats: seat id → AVAILABLE, RESERVED or BOOKED.
func (inv *Inventory) Seats(ctx context.Context, eventID, zoneID string) (map[string]TicketStatus, error) {
	k, z := keysOf(eventID), zoneKeysOf(eventID, zoneID)
	var (
		f     *redis.StringCmd
		kind  *redis.StringCmd
		seats *redis.MapStringStringCmd
		state *redis.StringCmd
	)
	// One MULTI, so the state matches the seat map even across a rebuild.
	_, err := inv.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		f = p.HGet(ctx, k.loaded, "format")
		kind = p.HGet(ctx, z.meta, "kind")
		seats = p.HGetAll(ctx, z.seats)
		state = p.Get(ctx, z.state)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("seats of %s/%s: %w", eventID, zoneID, err)
	}
	switch {
	case f.Val() != format:
		return nil, ErrNotLoaded
	case kind.Val() == "":
		return nil, ErrUnknownZone
	case ZoneKind(kind.Val()) != Seated:
		return nil, ErrWrongKind
	}
	st := state.Val()
	out := make(map[string]TicketStatus, len(seats.Val()))
	for id, off := range seats.Val() {
		o, err := strconv.Atoi(off)
		if err != nil || o < 0 || o >= len(st) {
			return nil, fmt.Errorf("seats of %s/%s: seat %s has offset %q outside the zone", eventID, zoneID, id, off)
		}
		out[id] = statusOf(st[o])
	}
	return out, nil
}
