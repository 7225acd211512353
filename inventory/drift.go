package inventory

import (
	"context"
	"errors"
	"fmt"
)

// Drift compares Redis with a snapshot: per zone counts and, in seated zones,
// every seat's state. It returns the differences, empty when in step. Holds in
// flight show as differences for a moment; act on drift that persists across
// two checks a little apart (or simply Rebuild, which keeps holds in flight).
func (inv *Inventory) Drift(ctx context.Context, snap *Snapshot) ([]string, error) {
	counts, err := inv.Counts(ctx, snap.EventID)
	if errors.Is(err, ErrNotLoaded) {
		return []string{"event " + snap.EventID + " is not loaded in Redis"}, nil
	}
	if err != nil {
		return nil, err
	}
	live := make(map[string]ZoneCounts, len(counts))
	for _, c := range counts {
		live[c.ZoneID] = c
	}
	var diffs []string
	for _, z := range snap.Zones {
		c, ok := live[z.ID]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("zone %s: missing in Redis", z.ID))
			continue
		}
		delete(live, z.ID)
		want := ZoneCounts{ZoneID: z.ID}
		for _, t := range z.Tickets {
			switch t.Status {
			case Available:
				want.Available++
			case Reserved:
				want.Held++
			case Booked:
				want.Booked++
			}
		}
		if c != want {
			diffs = append(diffs, fmt.Sprintf("zone %s: available/held/booked %d/%d/%d in Redis, %d/%d/%d in the database",
				z.ID, c.Available, c.Held, c.Booked, want.Available, want.Held, want.Booked))
		}
		if z.Kind != Seated {
			continue
		}
		seats, err := inv.Seats(ctx, snap.EventID, z.ID)
		if err != nil {
			return nil, err
		}
		diffs = append(diffs, seatDrift(z, seats)...)
	}
	for _, c := range counts {
		if _, extra := live[c.ZoneID]; extra {
			diffs = append(diffs, fmt.Sprintf("zone %s: in Redis only", c.ZoneID))
		}
	}
	return diffs, nil
}

// maxSeatDiffs bounds the seat lines per zone: a zone far out of step needs a
// rebuild, not ten thousand lines.
const maxSeatDiffs = 20

func seatDrift(z SnapshotZone, live map[string]TicketStatus) []string {
	var diffs []string
	n := 0
	for _, t := range z.Tickets {
		got, ok := live[t.SeatID]
		delete(live, t.SeatID)
		if ok && got == t.Status {
			continue
		}
		if n++; n > maxSeatDiffs {
			continue
		}
		if !ok {
			got = "missing"
		}
		diffs = append(diffs, fmt.Sprintf("zone %s seat %s: %s in Redis, %s in the database", z.ID, t.SeatID, got, t.Status))
	}
	for id := range live {
		if n++; n <= maxSeatDiffs {
			diffs = append(diffs, fmt.Sprintf("zone %s seat %s: in Redis only", z.ID, id))
		}
	}
	if n > maxSeatDiffs {
		diffs = append(diffs, fmt.Sprintf("zone %s: %d more seats differ", z.ID, n-maxSeatDiffs))
	}
	return diffs
}
