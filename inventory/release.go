package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Release puts a hold's tickets back on sale and lowers the fan's count.
// Releasing a hold that is released, booked or unknown does nothing.
func (inv *Inventory) Release(ctx context.Context, eventID, holdID string) error {
	_, err := inv.end(ctx, "release", eventID, holdID)
	if err != nil {
		return fmt.Errorf("release hold %s: %w", holdID, err)
	}
	return nil
}

// MarkBooked turns a hold's tickets from held to booked, once the database has
// booked them. Marking a hold that is booked, released or unknown does nothing.
func (inv *Inventory) MarkBooked(ctx context.Context, eventID, holdID string) error {
	_, err := inv.end(ctx, "book", eventID, holdID)
	if err != nil {
		return fmt.Errorf("mark hold %s booked: %w", holdID, err)
	}
	return nil
}

// end runs end_hold.lua with outcome "release" or "book". Only the hold's record
// says which zone's keys the script touches, so it is read first; the script
// checks the zone again and asks for a retry in the (theoretical) case the id
// changed zone meanwhile.
func (inv *Inventory) end(ctx context.Context, outcome, eventID, holdID string) (int64, error) {
	k := keysOf(eventID)
	for range 3 {
		raw, err := inv.rdb.HGet(ctx, k.holds, holdID).Result()
		if errors.Is(err, redis.Nil) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		var rec struct {
			Zone string `json:"z"`
		}
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			return 0, fmt.Errorf("hold record: %w", err)
		}
		z := zoneKeysOf(eventID, rec.Zone)
		res, err := inv.endHold.Run(ctx, inv.rdb, []string{k.users, k.holds, k.ended, z.meta, z.state},
			holdID, rec.Zone, inv.now().UnixMilli(), keepEnded.Milliseconds(), outcome).Slice()
		if err != nil {
			return 0, err
		}
		if res[0] == "OK" {
			n, _ := res[1].(int64)
			return n, nil
		}
	}
	return 0, errors.New("hold record keeps changing zone")
}

// ReleaseBooking puts the tickets of a cancelled booking back on sale: seats in
// a seated zone, qty tickets in a pool. Once per booking id: a second call does
// nothing, even after a rebuild. Only tickets Redis has as booked move. When the
// event is not loaded it returns ErrNotLoaded; the next rebuild reads the
// cancellation from the database.
func (inv *Inventory) ReleaseBooking(ctx context.Context, eventID, bookingID, zoneID, userID string, seats []string, qty int) error {
	seats = unique(seats)
	if len(seats) == 0 && qty <= 0 {
		return ErrNoTickets
	}
	k, z := keysOf(eventID), zoneKeysOf(eventID, zoneID)
	args := make([]any, 0, 4+len(seats))
	args = append(args, format, bookingID, userID, qty)
	for _, s := range seats {
		args = append(args, s)
	}
	res, err := inv.releaseBooking.Run(ctx, inv.rdb, []string{k.loaded, k.users, k.cancelled, z.meta, z.state, z.seats}, args...).Slice()
	if err != nil {
		return fmt.Errorf("run release_booking.lua: %w", err)
	}
	switch res[0] {
	case "OK":
		return nil
	case "NOT_LOADED":
		return ErrNotLoaded
	case "NO_ZONE":
		return ErrUnknownZone
	case "WRONG_KIND":
		return ErrWrongKind
	}
	return fmt.Errorf("release booking %s: unexpected script answer %v", bookingID, res)
}
