package inventory

import (
	"context"
	"fmt"
	"strings"
)

// HoldSeats holds every seat asked for, or none. The fan must have a shopping
// session now (ErrNotAdmitted) and stay within maxPerUser tickets held or booked
// (ErrLimitReached; maxPerUser <= 0 means no cap). Taken seats give a
// *SeatTakenError naming them; seats the zone does not have, ErrUnknownSeat.
// Seats asked twice count once.
func (inv *Inventory) HoldSeats(ctx context.Context, eventID, zoneID, userID, holdID string, seats []string, maxPerUser int) (*Hold, error) {
	seats = unique(seats)
	if len(seats) == 0 {
		return nil, ErrNoTickets
	}
	k, z := keysOf(eventID), zoneKeysOf(eventID, zoneID)
	args := make([]any, 0, 6+len(seats))
	args = append(args, format, inv.now().UnixMilli(), userID, holdID, maxPerUser, zoneID)
	for _, s := range seats {
		args = append(args, s)
	}
	res, err := inv.holdSeats.Run(ctx, inv.rdb, []string{k.loaded, k.active, k.users, k.holds, z.meta, z.state, z.seats}, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("run hold_seats.lua: %w", err)
	}
	if err := holdError(res, len(seats), maxPerUser); err != nil {
		return nil, err
	}
	return &Hold{ID: holdID, EventID: eventID, ZoneID: zoneID, UserID: userID, Seats: seats, Quantity: len(seats)}, nil
}

// HoldQuantity holds qty tickets of a pool zone, or none (ErrNotEnough). Same
// session and limit checks as HoldSeats. The database picks the tickets.
func (inv *Inventory) HoldQuantity(ctx context.Context, eventID, zoneID, userID, holdID string, qty, maxPerUser int) (*Hold, error) {
	if qty <= 0 {
		return nil, ErrNoTickets
	}
	k, z := keysOf(eventID), zoneKeysOf(eventID, zoneID)
	res, err := inv.holdQuantity.Run(ctx, inv.rdb, []string{k.loaded, k.active, k.users, k.holds, z.meta},
		format, inv.now().UnixMilli(), userID, holdID, maxPerUser, zoneID, qty).Slice()
	if err != nil {
		return nil, fmt.Errorf("run hold_quantity.lua: %w", err)
	}
	if err := holdError(res, qty, maxPerUser); err != nil {
		return nil, err
	}
	return &Hold{ID: holdID, EventID: eventID, ZoneID: zoneID, UserID: userID, Quantity: qty}, nil
}

// HoldBest holds the best qty adjacent seats of a seated zone: in one row, rows
// nearest the stage first, never leaving a lone seat when another choice
// leaves none. It never splits the party: ErrNotEnough when no row has qty
// adjacent seats. Same session and limit checks as HoldSeats.
func (inv *Inventory) HoldBest(ctx context.Context, eventID, zoneID, userID, holdID string, qty, maxPerUser int) (*Hold, error) {
	if qty <= 0 {
		return nil, ErrNoTickets
	}
	k, z := keysOf(eventID), zoneKeysOf(eventID, zoneID)
	res, err := inv.holdBest.Run(ctx, inv.rdb, []string{k.loaded, k.active, k.users, k.holds, z.meta, z.state, z.ids},
		format, inv.now().UnixMilli(), userID, holdID, maxPerUser, zoneID, qty).Slice()
	if err != nil {
		return nil, fmt.Errorf("run hold_best.lua: %w", err)
	}
	if err := holdError(res, qty, maxPerUser); err != nil {
		return nil, err
	}
	return &Hold{ID: holdID, EventID: eventID, ZoneID: zoneID, UserID: userID, Seats: strs(res[1]), Quantity: qty}, nil
}

// holdError turns a hold script's refusal into the package's errors.
func holdError(res []any, asked, maxPerUser int) error {
	code, _ := res[0].(string)
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
		return fmt.Errorf("%w: %s", ErrUnknownSeat, strings.Join(strs(res[1]), ", "))
	case "TAKEN":
		return &SeatTakenError{Seats: strs(res[1])}
	case "LIMIT":
		return fmt.Errorf("%w: %d held or booked, %d more asked, at most %d", ErrLimitReached, res[1], asked, maxPerUser)
	case "NOT_ENOUGH":
		return fmt.Errorf("%w: %d asked, %d left", ErrNotEnough, asked, res[1])
	case "NOT_TOGETHER":
		return fmt.Errorf("%w: no row has %d adjacent seats (%d left in all)", ErrNotEnough, asked, res[1])
	}
	return fmt.Errorf("hold: unexpected script answer %v", res)
}

func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, s := range list {
		str, _ := s.(string)
		out = append(out, str)
	}
	return out
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
