package inventory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Snapshot is the database's view of an event's inventory, read in one
// transaction (store.DB.InventorySnapshot builds it).
type Snapshot struct {
	EventID string
	// TakenAt is when the database read began, on the application's clock; zero
	// means now. Holds Redis decided shortly before it may be missing from the
	// snapshot, and Rebuild keeps them.
	TakenAt time.Time
	Zones   []SnapshotZone
	Holds   []SnapshotHold // ACTIVE holds
	Users   map[string]int // per user: tickets in active holds + booked tickets of confirmed bookings
	// Cancelled are the event's cancelled bookings, per zone: their tickets are
	// on sale in the snapshot, so their own releases must change nothing after it.
	Cancelled []CancelledBooking
}

// CancelledBooking is a cancelled booking's zone.
type CancelledBooking struct{ BookingID, ZoneID string }

// SnapshotZone is a zone and every one of its tickets.
type SnapshotZone struct {
	ID      string
	Kind    ZoneKind
	Rows    []SnapshotRow    // seated: rows nearest the stage first, as ranges of Tickets
	Tickets []SnapshotTicket // stage order: ticket i has offset i (number - 1)
}

// SnapshotRow is a row of seats: Tickets[Offset : Offset+Len].
type SnapshotRow struct {
	Row         string
	Offset, Len int
}

// SnapshotTicket is a ticket's seat (seated zones) and status (AVAILABLE, RESERVED or BOOKED).
type SnapshotTicket struct {
	SeatID string
	Status TicketStatus
}

// SnapshotHold is an active hold: seats in a seated zone, a quantity in a pool.
type SnapshotHold struct {
	ID, ZoneID, UserID string
	Seats              []string
	Quantity           int
}

// The rebuild script's input; field names are short to keep large events' payload small.
type (
	payload struct {
		Zones     []payloadZone          `json:"zones"`
		Holds     map[string]payloadHold `json:"holds"`
		Users     map[string]int         `json:"users"`
		Cancelled []string               `json:"cancelled"` // never null: the script walks it
	}
	payloadZone struct {
		ID     string   `json:"id"`
		Kind   ZoneKind `json:"kind"`
		Rows   string   `json:"rows"`
		State  string   `json:"state"`
		Avail  int      `json:"avail"`
		Held   int      `json:"held"`
		Booked int      `json:"booked"`
	}
	payloadHold struct {
		Zone     string `json:"z"`
		User     string `json:"u"`
		Offsets  []int  `json:"o,omitempty"`
		Quantity int    `json:"q,omitempty"`
	}
)

// stateOf is a status's state byte.
func stateOf(status TicketStatus) (byte, bool) {
	switch status {
	case Available:
		return '0', true
	case Reserved:
		return '1', true
	case Booked:
		return '2', true
	}
	return 0, false
}

// plan checks a snapshot and turns it into the script's payload, with each
// seated zone's seat id → offset map.
func plan(snap *Snapshot) (*payload, []map[string]int, error) {
	if snap.EventID == "" || len(snap.Zones) == 0 {
		return nil, nil, fmt.Errorf("snapshot: no event id or no zones")
	}
	p := &payload{Holds: make(map[string]payloadHold, len(snap.Holds)), Users: make(map[string]int, len(snap.Users)),
		Cancelled: make([]string, 0, len(snap.Cancelled))}
	for _, c := range snap.Cancelled {
		p.Cancelled = append(p.Cancelled, cancelledMember(c.BookingID, c.ZoneID))
	}
	maps := make([]map[string]int, len(snap.Zones))
	index := make(map[string]int, len(snap.Zones))
	for i, z := range snap.Zones {
		if _, dup := index[z.ID]; dup || z.ID == "" {
			return nil, nil, fmt.Errorf("snapshot: zone id %q empty or repeated", z.ID)
		}
		index[z.ID] = i
		if len(z.Tickets) == 0 {
			return nil, nil, fmt.Errorf("snapshot: zone %s has no tickets", z.ID)
		}
		pz := payloadZone{ID: z.ID, Kind: z.Kind}
		state := make([]byte, len(z.Tickets))
		for j, t := range z.Tickets {
			b, ok := stateOf(t.Status)
			if !ok {
				return nil, nil, fmt.Errorf("snapshot: zone %s ticket %d has status %q", z.ID, j+1, t.Status)
			}
			state[j] = b
			switch b {
			case '0':
				pz.Avail++
			case '1':
				pz.Held++
			default:
				pz.Booked++
			}
		}
		switch z.Kind {
		case Pool:
		case Seated:
			seats := make(map[string]int, len(z.Tickets))
			for j, t := range z.Tickets {
				if _, dup := seats[t.SeatID]; dup || t.SeatID == "" {
					return nil, nil, fmt.Errorf("snapshot: zone %s seat id %q empty or repeated", z.ID, t.SeatID)
				}
				seats[t.SeatID] = j
			}
			rows := make([]string, len(z.Rows))
			for j, r := range z.Rows {
				if r.Offset < 0 || r.Len <= 0 || r.Offset+r.Len > len(z.Tickets) {
					return nil, nil, fmt.Errorf("snapshot: zone %s row %s [%d, +%d) outside its %d seats", z.ID, r.Row, r.Offset, r.Len, len(z.Tickets))
				}
				rows[j] = strconv.Itoa(r.Offset) + ":" + strconv.Itoa(r.Len)
			}
			pz.Rows, pz.State, maps[i] = strings.Join(rows, ","), string(state), seats
		default:
			return nil, nil, fmt.Errorf("snapshot: zone %s has kind %q", z.ID, z.Kind)
		}
		p.Zones = append(p.Zones, pz)
	}
	for _, h := range snap.Holds {
		i, ok := index[h.ZoneID]
		if !ok || h.ID == "" {
			return nil, nil, fmt.Errorf("snapshot: hold %q in unknown zone %s", h.ID, h.ZoneID)
		}
		ph := payloadHold{Zone: h.ZoneID, User: h.UserID}
		if maps[i] == nil {
			if ph.Quantity = h.Quantity; ph.Quantity <= 0 || len(h.Seats) > 0 {
				return nil, nil, fmt.Errorf("snapshot: pool hold %s needs a quantity and no seats", h.ID)
			}
		} else {
			if len(h.Seats) == 0 {
				return nil, nil, fmt.Errorf("snapshot: seated hold %s has no seats", h.ID)
			}
			for _, s := range h.Seats {
				o, ok := maps[i][s]
				if !ok || snap.Zones[i].Tickets[o].Status != Reserved {
					return nil, nil, fmt.Errorf("snapshot: hold %s has seat %s/%s, which is not a reserved seat", h.ID, h.ZoneID, s)
				}
				ph.Offsets = append(ph.Offsets, o)
			}
		}
		if _, dup := p.Holds[h.ID]; dup {
			return nil, nil, fmt.Errorf("snapshot: hold %s repeated", h.ID)
		}
		p.Holds[h.ID] = ph
	}
	for u, n := range snap.Users {
		if n > 0 {
			p.Users[u] = n
		}
	}
	return p, maps, nil
}

// stageChunk bounds the fields of one HSET while staging seat maps.
const stageChunk = 1000

// Rebuild replaces the event's inventory with the snapshot's, keeping what Redis
// decided around the time the snapshot was read:
//
//  1. Each seated zone's seat maps (the large, static part) are written under
//     temporary keys of this rebuild, which expire if it dies half way.
//  2. One script then swaps everything in atomically: state strings, counters,
//     seat maps (renamed in), holds, per-fan counts and the loaded marker. No
//     hold ever sees half an event.
//  3. The same script replays on the new state the holds Redis decided or ended
//     since TakenAt - inFlight, so a hold in flight (decided here, its database
//     write not yet committed when the snapshot was read) is not lost, and one
//     released or booked after the read is not resurrected. See rebuild.lua.
//
// A snapshot older than the one already loaded changes nothing. Cancelled
// bookings are remembered across rebuilds. What is not replayed: a booking
// cancelled between the read and the swap shows booked until the next
// Drift/Rebuild — Redis then sells less than it could, never more.
func (inv *Inventory) Rebuild(ctx context.Context, snap *Snapshot) error {
	p, maps, err := plan(snap)
	if err != nil {
		return err
	}
	now := inv.now()
	taken := snap.TakenAt
	if taken.IsZero() {
		taken = now
	}
	var token [8]byte
	_, _ = rand.Read(token[:])
	k := keysOf(snap.EventID)
	keys := []string{k.loaded, k.holds, k.users, k.cancelled}
	var staged []string
	_, err = inv.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, z := range snap.Zones {
			zk := zoneKeysOf(snap.EventID, z.ID)
			tmp := "ev:{" + snap.EventID + "}:inv:tmp:" + hex.EncodeToString(token[:]) + ":" + z.ID
			seats, ids := tmp+":seats", tmp+":ids"
			keys = append(keys, zk.meta, zk.state, zk.seats, zk.ids, seats, ids)
			if maps[i] == nil {
				continue
			}
			staged = append(staged, seats, ids)
			for from := 0; from < len(z.Tickets); from += stageChunk {
				to := min(from+stageChunk, len(z.Tickets))
				byID := make([]any, 0, 2*(to-from))
				byOff := make([]any, 0, 2*(to-from))
				for o := from; o < to; o++ {
					byID = append(byID, z.Tickets[o].SeatID, o)
					byOff = append(byOff, o, z.Tickets[o].SeatID)
				}
				pipe.HSet(ctx, seats, byID...)
				pipe.HSet(ctx, ids, byOff...)
			}
			pipe.Expire(ctx, seats, time.Hour)
			pipe.Expire(ctx, ids, time.Hour)
		}
		return nil
	})
	// Renamed keys are gone by now; this clears what a failure left.
	defer func() {
		if len(staged) > 0 {
			inv.rdb.Del(context.WithoutCancel(ctx), staged...)
		}
	}()
	if err != nil {
		return fmt.Errorf("rebuild %s: stage seat maps: %w", snap.EventID, err)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", snap.EventID, err)
	}
	res, err := inv.rebuild.Run(ctx, inv.rdb, keys, format, taken.UnixMilli(),
		taken.Add(-inFlight).UnixMilli(), now.UnixMilli(), body).Slice()
	if err != nil {
		return fmt.Errorf("run rebuild.lua for %s: %w", snap.EventID, err)
	}
	switch at(res, 0) {
	case "OK", "STALE":
		return nil
	case "STAGING_LOST":
		return fmt.Errorf("rebuild %s: staged seat maps expired before the swap", snap.EventID)
	}
	return fmt.Errorf("rebuild %s: unexpected script answer %v", snap.EventID, res)
}
