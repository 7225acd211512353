package inventory

import (
	"context"
	"fmt"
	"strings"
)

// HoldRequest asks for tickets of one zone for one fan: Seats in a seated
// zone, or a Quantity (from a pool, or the best seats of a seated zone).
type HoldRequest struct {
	EventID, ZoneID, UserID, HoldID string
	Seats                           []string
	Quantity                        int
	MaxPerUser                      int // tickets held + booked per fan; <= 0 is no cap
}

// args are the preamble's ARGV (hold_preamble.lua), then extra.
func (inv *Inventory) args(r HoldRequest, extra ...any) []any {
	return append([]any{format, inv.now().UnixMilli(), r.UserID, r.HoldID, r.MaxPerUser, r.ZoneID}, extra...)
}

// holdKeys are the preamble's KEYS, then the zone's keys in extra.
func (inv *Inventory) holdKeys(eventID string, z zoneKeys, extra ...string) []string {
	k := keysOf(eventID)
	return append([]string{k.loaded, inv.sessions(eventID), k.users, k.holds, k.unconfirmed, z.meta}, extra...)
}

// HoldSeats holds every seat asked for, or none. The fan must have a shopping
// session now (ErrNotAdmitted) and stay within MaxPerUser tickets held or booked
// (ErrLimitReached). Taken seats give a *SeatTakenError naming them; seats the
// zone does not have, ErrUnknownSeat. Seats asked twice count once.
func (inv *Inventory) HoldSeats(ctx context.Context, r HoldRequest) (*Hold, error) {
	seats := unique(r.Seats)
	if len(seats) == 0 {
		return nil, ErrNoTickets
	}
	z := zoneKeysOf(r.EventID, r.ZoneID)
	extra := make([]any, len(seats))
	for i, s := range seats {
		extra[i] = s
	}
	res, err := inv.holdSeats.Run(ctx, inv.rdb, inv.holdKeys(r.EventID, z, z.state, z.seats), inv.args(r, extra...)...).Slice()
	if err != nil {
		return nil, fmt.Errorf("run hold_seats.lua: %w", err)
	}
	if err := holdError(res, len(seats), r.MaxPerUser); err != nil {
		return nil, err
	}
	return &Hold{ID: r.HoldID, EventID: r.EventID, ZoneID: r.ZoneID, UserID: r.UserID, Seats: seats, Quantity: len(seats)}, nil
}

// HoldQuantity holds Quantity tickets of a pool zone, or none (ErrNotEnough).
// Same session and limit checks as HoldSeats. The database picks the tickets.
func (inv *Inventory) HoldQuantity(ctx context.Context, r HoldRequest) (*Hold, error) {
	if r.Quantity <= 0 {
		return nil, ErrNoTickets
	}
	z := zoneKeysOf(r.EventID, r.ZoneID)
	res, err := inv.holdQuantity.Run(ctx, inv.rdb, inv.holdKeys(r.EventID, z), inv.args(r, r.Quantity)...).Slice()
	if err != nil {
		return nil, fmt.Errorf("run hold_quantity.lua: %w", err)
	}
	if err := holdError(res, r.Quantity, r.MaxPerUser); err != nil {
		return nil, err
	}
	return &Hold{ID: r.HoldID, EventID: r.EventID, ZoneID: r.ZoneID, UserID: r.UserID, Quantity: r.Quantity}, nil
}

// HoldBest holds the best Quantity adjacent seats of a seated zone: in one row,
// rows nearest the stage first, never leaving a lone seat when another choice
// leaves none. It never splits the party: ErrNotEnough when no row has that
// many adjacent seats. Same session and limit checks as HoldSeats.
func (inv *Inventory) HoldBest(ctx context.Context, r HoldRequest) (*Hold, error) {
	if r.Quantity <= 0 {
		return nil, ErrNoTickets
	}
	z := zoneKeysOf(r.EventID, r.ZoneID)
	res, err := inv.holdBest.Run(ctx, inv.rdb, inv.holdKeys(r.EventID, z, z.state, z.ids), inv.args(r, r.Quantity)...).Slice()
	if err != nil {
		return nil, fmt.Errorf("run hold_best.lua: %w", err)
	}
	if err := holdError(res, r.Quantity, r.MaxPerUser); err != nil {
		return nil, err
	}
	seats, err := strs(res, 1)
	if err != nil {
		return nil, err
	}
	return &Hold{ID: r.HoldID, EventID: r.EventID, ZoneID: r.ZoneID, UserID: r.UserID, Seats: seats, Quantity: r.Quantity}, nil
}

// holdError turns a hold script's refusal into the package's errors. A reply
// of another shape is an error, never a panic.
func holdError(res []any, asked, maxPerUser int) error {
	code, _ := at(res, 0).(string)
	switch code {
	case "OK":
		return nil
	case "NOT_LOADED":
		return ErrNotLoaded
	case "NO_ZONE":
		return ErrUnknownZone
	case "WRONG_KIND":
		return ErrWrongKind
	case "NOT_ADMITTED":
		return ErrNotAdmitted
	case "EXISTS":
		return ErrHoldExists
	case "UNKNOWN":
		seats, err := strs(res, 1)
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: %s", ErrUnknownSeat, strings.Join(seats, ", "))
	case "TAKEN":
		seats, err := strs(res, 1)
		if err != nil {
			return err
		}
		return &SeatTakenError{Seats: seats}
	case "LIMIT":
		return fmt.Errorf("%w: %d held or booked, %d more asked, at most %d", ErrLimitReached, at(res, 1), asked, maxPerUser)
	case "NOT_ENOUGH":
		return fmt.Errorf("%w: %d asked, %d left", ErrNotEnough, asked, at(res, 1))
	case "NOT_TOGETHER":
		return fmt.Errorf("%w: no row has %d adjacent seats (%d left in all)", ErrNotEnough, asked, at(res, 1))
	}
	return fmt.Errorf("hold: unexpected script answer %v", res)
}

// at is res[i], or nil past its end.
func at(res []any, i int) any {
	if i < len(res) {
		return res[i]
	}
	return nil
}

// strs reads res[i] as a list of strings.
func strs(res []any, i int) ([]string, error) {
	list, ok := at(res, i).([]any)
	if !ok {
		return nil, fmt.Errorf("hold: script answer %v has no list at %d", res, i)
	}
	out := make([]string, len(list))
	for j, s := range list {
		if out[j], ok = s.(string); !ok {
			return nil, fmt.Errorf("hold: script answer %v has a non-string in its list", res)
		}
	}
	return out, nil
}

// unique drops repeats and keeps the order.
func unique(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
