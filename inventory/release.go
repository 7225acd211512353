package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Release puts a hold's tickets back on sale and lowers the fan's count.
// Releasing a hold that is released, booked or unknown does nothing.
func (inv *Inventory) Release(ctx context.Context, eventID, holdID string) error {
	if err := inv.end(ctx, "release", eventID, holdID); err != nil {
		return fmt.Errorf("release hold %s: %w", holdID, err)
	}
	return nil
}

// MarkBooked turns a hold's tickets from held to booked, once the database has
// booked them. Marking a hold that is booked, released or unknown does nothing.
func (inv *Inventory) MarkBooked(ctx context.Context, eventID, holdID string) error {
	if err := inv.end(ctx, "book", eventID, holdID); err != nil {
		return fmt.Errorf("mark hold %s booked: %w", holdID, err)
	}
	return nil
}

// end runs end_hold.lua with outcome "release" or "book". Only the hold's record
// says which zone's keys the script touches, so it is read first; the script
// checks the zone again and asks for a retry in the (theoretical) case the id
// changed zone meanwhile.
func (inv *Inventory) end(ctx context.Context, outcome, eventID, holdID string) error {
	k := keysOf(eventID)
	for range 3 {
		raw, err := inv.rdb.HGet(ctx, k.holds, holdID).Result()
		if errors.Is(err, redis.Nil) {
			// Unknown here (forgotten, or lost with a rebuild): nothing to move,
			// but it is no phantom either.
			return inv.rdb.ZRem(ctx, k.unconfirmed, holdID).Err()
		}
		if err != nil {
			return err
		}
		var rec struct {
			Zone string `json:"z"`
		}
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			return fmt.Errorf("hold record: %w", err)
		}
		z := zoneKeysOf(eventID, rec.Zone)
		res, err := inv.endHold.Run(ctx, inv.rdb, []string{k.users, k.holds, k.ended, k.unconfirmed, z.meta, z.state},
			holdID, rec.Zone, inv.now().UnixMilli(), keepEnded.Milliseconds(), outcome).Slice()
		if err != nil {
			return err
		}
		switch at(res, 0) {
		case "OK":
			return nil
		case "RETRY":
			continue
		}
		return fmt.Errorf("end_hold.lua: unexpected answer %v", res)
	}
	return errors.New("hold record keeps changing zone")
}

// Unconfirmed lists up to limit holds decided here at or before until that
// the database has not confirmed, with their zones ("" for a hold no longer
// known here): a hold whose database write could have finished by then and is
// not in the database never will be (its replica died between the two), and
// Release frees it.
func (inv *Inventory) Unconfirmed(ctx context.Context, eventID string, until time.Time, limit int) (map[string]string, error) {
	k := keysOf(eventID)
	ids, err := inv.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: k.unconfirmed, ByScore: true,
		Start: "-inf", Stop: strconv.FormatInt(until.UnixMilli(), 10), Count: int64(limit)}).Result()
	if err != nil {
		return nil, fmt.Errorf("unconfirmed holds of %s: %w", eventID, err)
	}
	out := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	recs, err := inv.rdb.HMGet(ctx, k.holds, ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("unconfirmed holds of %s: %w", eventID, err)
	}
	for i, id := range ids {
		var rec struct {
			Zone string `json:"z"`
		}
		if raw, ok := recs[i].(string); ok {
			_ = json.Unmarshal([]byte(raw), &rec) // unreadable: no zone to tell about
		}
		out[id] = rec.Zone
	}
	return out, nil
}

// Confirm stops watching holds the database has.
func (inv *Inventory) Confirm(ctx context.Context, eventID string, holdIDs []string) error {
	if len(holdIDs) == 0 {
		return nil
	}
	members := make([]any, len(holdIDs))
	for i, id := range holdIDs {
		members[i] = id
	}
	if err := inv.rdb.ZRem(ctx, keysOf(eventID).unconfirmed, members...).Err(); err != nil {
		return fmt.Errorf("confirm holds of %s: %w", eventID, err)
	}
	return nil
}

// BookingRelease is a cancelled booking's tickets in one zone: seats in a
// seated zone, a quantity in a pool.
type BookingRelease struct {
	EventID, BookingID, ZoneID, UserID string
	Seats                              []string
	Quantity                           int
}

// ReleaseBooking puts a cancelled booking's tickets of one zone back on sale.
// Once per booking and zone: a second call does nothing, even after a
// rebuild, and so does a call after a rebuild whose snapshot had the
// cancellation already. Only tickets Redis has as booked move. When the event
// is not loaded it returns ErrNotLoaded; the next rebuild reads the
// cancellation from the database.
func (inv *Inventory) ReleaseBooking(ctx context.Context, r BookingRelease) error {
	seats := unique(r.Seats)
	if len(seats) == 0 && r.Quantity <= 0 {
		return ErrNoTickets
	}
	k, z := keysOf(r.EventID), zoneKeysOf(r.EventID, r.ZoneID)
	args := make([]any, 0, 5+len(seats))
	args = append(args, format, r.BookingID, r.UserID, r.ZoneID, r.Quantity)
	for _, s := range seats {
		args = append(args, s)
	}
	res, err := inv.releaseBooking.Run(ctx, inv.rdb, []string{k.loaded, k.users, k.cancelled, z.meta, z.state, z.seats}, args...).Slice()
	if err != nil {
		return fmt.Errorf("run release_booking.lua: %w", err)
	}
	switch at(res, 0) {
	case "OK":
		return nil
	case "NOT_LOADED":
		return ErrNotLoaded
	case "NO_ZONE":
		return ErrUnknownZone
	case "WRONG_KIND":
		return ErrWrongKind
	}
	return fmt.Errorf("release booking %s: unexpected script answer %v", r.BookingID, res)
}

// cancelledMember is a cancelled booking's zone as the cancelled set names it.
func cancelledMember(bookingID, zoneID string) string { return bookingID + " " + zoneID }
