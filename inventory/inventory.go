// Package inventory is live availability and atomic holds in Redis: the fast gate
// in front of PostgreSQL, which stays the truth. Callers hold here first, write
// the database, and undo the hold here if the database refuses; bookings,
// cancellations and expiries are committed to the database first and then
// reflected here. When Redis loses an event or disagrees with the database, the
// event is rebuilt from a database snapshot.
//
// All keys of an event share the hash tag ev:{<event>} and every script declares
// the keys it touches, so each script is atomic on a Redis Cluster too:
//
//	ev:{E}:active             the waiting room's sessions (queue.ActiveKey; read only)
//	ev:{E}:inv:loaded         hash: format, zones (JSON list), taken (snapshot ms), at
//	ev:{E}:inv:holds          hash hold id -> JSON {z, u, t, s: h|r|b, o: offsets | q, e}
//	ev:{E}:inv:ended          ZSET hold id -> end ms, to forget ended holds after a while
//	ev:{E}:inv:users          hash user -> tickets held + booked
//	ev:{E}:inv:unconfirmed    ZSET hold id -> decision ms: holds the database has not
//	                          confirmed yet (a phantom, if its replica died, is freed)
//	ev:{E}:inv:cancelled      set of "booking zone" whose tickets went back on sale
//	ev:{E}:inv:z:<Z>          hash: kind, rows ("offset:len,..." nearest the stage first),
//	                          avail, held, booked
//	ev:{E}:inv:z:<Z>:state    seated: one byte per seat in stage order, '0' available,
//	                          '1' held, '2' booked
//	ev:{E}:inv:z:<Z>:seats    seated: seat id -> offset
//	ev:{E}:inv:z:<Z>:ids      seated: offset -> seat id
//	ev:{E}:inv:tmp:<token>:…  seat maps staged by a rebuild, renamed in (expire after 1 h)
//
// Pool zones are counters only: the database picks the concrete pool tickets, so a
// pool hold is a quantity and costs O(1) however large the pool.
//
// Holds live in one hash per event rather than one key each, so that a rebuild can
// read and replace them all in its one atomic step without undeclared keys.
package inventory

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed hold_preamble.lua
	holdPreambleLua string
	//go:embed hold_seats.lua
	holdSeatsLua string
	//go:embed hold_quantity.lua
	holdQuantityLua string
	//go:embed hold_best.lua
	holdBestLua string
	//go:embed end_hold.lua
	endHoldLua string
	//go:embed release_booking.lua
	releaseBookingLua string
	//go:embed rebuild.lua
	rebuildLua string
)

var (
	ErrNotAdmitted  = errors.New("no active shopping session for this event")
	ErrLimitReached = errors.New("ticket limit per fan reached")
	ErrUnknownSeat  = errors.New("unknown seat")
	ErrSeatTaken    = errors.New("seat taken")
	ErrNotEnough    = errors.New("not enough tickets available")
	ErrNotLoaded    = errors.New("event inventory is not loaded in Redis; rebuild it")
	ErrUnknownZone  = errors.New("unknown zone")
	ErrWrongKind    = errors.New("request does not fit the zone's kind")
	ErrHoldExists   = errors.New("hold id already used")
	ErrNoTickets    = errors.New("a hold must ask for at least one ticket")
)

// SeatTakenError names the seats that are gone. errors.Is(err, ErrSeatTaken) holds too.
type SeatTakenError struct{ Seats []string }

func (e *SeatTakenError) Error() string {
	return "seats no longer available: " + strings.Join(e.Seats, ", ")
}

// Is makes the error match ErrSeatTaken, for callers that need no seat names.
func (e *SeatTakenError) Is(target error) bool { return target == ErrSeatTaken }

// TicketStatus is where a ticket stands, as the database and the API name it.
type TicketStatus string

// Ticket statuses.
const (
	Available TicketStatus = "AVAILABLE"
	Reserved  TicketStatus = "RESERVED"
	Booked    TicketStatus = "BOOKED"
)

// ZoneKind is how a zone sells, as the database and the API name it: a pool
// of numbered tickets, or assigned seats.
type ZoneKind string

// Zone kinds.
const (
	Pool   ZoneKind = "pool"
	Seated ZoneKind = "seated"
)

const (
	// format is the layout of the keys above. Scripts refuse an event loaded in
	// another layout (ErrNotLoaded), so a deploy that changes it rebuilds.
	format = "1"
	// inFlight is how long a hold may take from its Redis decision to its database
	// commit (clock skew between replicas included). A rebuild keeps holds decided
	// that recently even when its snapshot does not show them.
	inFlight = time.Minute
	// keepEnded is how long ended holds are remembered: longer than inFlight plus a
	// rebuild, so a rebuild can tell a hold ended after its snapshot was read.
	keepEnded = 10 * time.Minute
)

// Hold is a fan's claim on tickets of one zone. Seated holds name their seats;
// Quantity is the number of tickets either way.
type Hold struct {
	ID, EventID, ZoneID, UserID string
	Seats                       []string
	Quantity                    int
}

// Inventory keeps every event's live inventory in Redis. Safe for concurrent
// use, and on every replica at once.
type Inventory struct {
	rdb      redis.UniversalClient
	now      func() time.Time
	sessions func(eventID string) string

	holdSeats, holdQuantity, holdBest, endHold, releaseBooking, rebuild *redis.Script
}

// shebang opens every script: Redis 7 then holds a script to the slot of its
// keys in a cluster, so one that touched a key of another slot fails there
// (scripts/redis-cluster.sh test), even when both slots live on one node, which
// a script without it may do unnoticed.
const shebang = "#!lua\n"

// New builds an Inventory. now is the clock, shared with the waiting room's
// sessions: a fan may hold only while its session expiry is after now.
// sessions names an event's ZSET of shopping sessions, which the waiting room
// owns (queue.ActiveKey); the hold scripts read it.
func New(rdb redis.UniversalClient, now func() time.Time, sessions func(eventID string) string) *Inventory {
	return &Inventory{
		rdb: rdb, now: now, sessions: sessions,
		holdSeats:      redis.NewScript(shebang + holdPreambleLua + holdSeatsLua),
		holdQuantity:   redis.NewScript(shebang + holdPreambleLua + holdQuantityLua),
		holdBest:       redis.NewScript(shebang + holdPreambleLua + holdBestLua),
		endHold:        redis.NewScript(shebang + endHoldLua),
		releaseBooking: redis.NewScript(shebang + releaseBookingLua),
		rebuild:        redis.NewScript(shebang + rebuildLua),
	}
}

// eventKeys are an event's keys, all under its cluster hash tag.
type eventKeys struct{ loaded, holds, ended, unconfirmed, users, cancelled string }

func keysOf(eventID string) eventKeys {
	p := "ev:{" + eventID + "}:"
	return eventKeys{
		loaded: p + "inv:loaded", holds: p + "inv:holds", ended: p + "inv:ended",
		unconfirmed: p + "inv:unconfirmed", users: p + "inv:users", cancelled: p + "inv:cancelled",
	}
}

type zoneKeys struct{ meta, state, seats, ids string }

func zoneKeysOf(eventID, zoneID string) zoneKeys {
	p := "ev:{" + eventID + "}:inv:z:" + zoneID
	return zoneKeys{meta: p, state: p + ":state", seats: p + ":seats", ids: p + ":ids"}
}

// zones lists a loaded event's zones in the order of its snapshot.
func (inv *Inventory) zones(ctx context.Context, eventID string) ([]string, error) {
	v, err := inv.rdb.HMGet(ctx, keysOf(eventID).loaded, "format", "zones").Result()
	if err != nil {
		return nil, fmt.Errorf("inventory of %s: %w", eventID, err)
	}
	if f, _ := v[0].(string); f != format {
		return nil, ErrNotLoaded
	}
	raw, _ := v[1].(string)
	var zones []string
	if err := json.Unmarshal([]byte(raw), &zones); err != nil {
		return nil, fmt.Errorf("inventory zones of %s: %w", eventID, err)
	}
	return zones, nil
}

// Loaded reports whether the event's inventory is in Redis, in this layout.
func (inv *Inventory) Loaded(ctx context.Context, eventID string) (bool, error) {
	f, err := inv.rdb.HGet(ctx, keysOf(eventID).loaded, "format").Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inventory of %s: %w", eventID, err)
	}
	return f == format, nil
}
