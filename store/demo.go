package store

import (
	"fmt"
	"time"

	"github.com/boxofficehq/boxoffice/inventory"
)

// DemoConcert is the reference on-sale: 10,000 tickets in a general-admission
// pool of 7,000, 2,900 VIP seats in rows of 20 to 40, and a Millionaire Pit of
// 100 seats. `boxoffice demo` loads it; the sell-out benchmark sells it.
func DemoConcert(id string, opensAt time.Time) NewEvent {
	price := func(v int64) *int64 { return &v }
	ga := 7000
	name, venue := "Boxoffice Live: The Stadium Tour", "Riverside Stadium"
	startsAt, lobby := opensAt.Add(60*24*time.Hour), opensAt.Add(-time.Hour)
	n := NewEvent{ID: id}
	n.Name, n.Venue, n.StartsAt, n.SaleOpensAt, n.LobbyOpensAt = &name, &venue, &startsAt, &opensAt, &lobby
	n.Zones = []NewZone{
		{ID: "GA", Name: "General Admission", Kind: inventory.Pool, Capacity: &ga, PriceCents: price(9900)},
		{ID: "VIP", Name: "VIP", Kind: inventory.Seated, Rows: widening(2900), PriceCents: price(45000)},
		{ID: "PIT", Name: "Millionaire Pit", Kind: inventory.Seated, Rows: evenRows(5, 20), PriceCents: price(1_000_000)},
	}
	return n
}

// widening makes rows from 20 seats at the stage to 40 at the back, as a bowl does.
func widening(total int) []Row {
	var rows []Row
	for n := 1; total > 0; n++ {
		seats := min(20+n-1, 40, total)
		rows = append(rows, Row{Row: fmt.Sprint(n), Seats: seats})
		total -= seats
	}
	return rows
}

func evenRows(count, seats int) []Row {
	rows := make([]Row, count)
	for i := range rows {
		rows[i] = Row{Row: fmt.Sprint(i + 1), Seats: seats}
	}
	return rows
}
