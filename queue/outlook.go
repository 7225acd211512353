package queue

import (
	"math"

	"github.com/boxofficehq/boxoffice/store"
)

// Outlook is the honest chance that a waiting fan gets tickets.
type Outlook string

const (
	OutlookGood      Outlook = "good"
	OutlookUncertain Outlook = "uncertain"
	OutlookUnlikely  Outlook = "unlikely"
)

// Supply is what the line knows of the inventory and of demand so far.
type Supply struct {
	Available int   // on sale now
	Held      int   // reserved, not yet paid: may come back
	Booked    int   // sold
	Shoppers  int64 // admitted and still shopping (active + pending)
	Admitted  int64 // admitted so far
	Lobby     int64 // waiting in the lobby, before the opening
}

// SoldOut is true when nothing is on sale (store.SoldOut, the rule the sale
// status follows too): nobody admitted now could buy, so the line stops
// admitting and says so, until tickets come back (a hold released or expired,
// a booking cancelled). With nothing held either, it is final.
func (s Supply) SoldOut() bool { return store.SoldOut(s.Available) }

// perFan is the tickets an admitted fan takes, as measured so far. Before enough
// fans have shopped it assumes two, the most common party.
func (s Supply) perFan() float64 {
	if s.Admitted < 20 || s.Booked+s.Held == 0 {
		return 2
	}
	return max(float64(s.Booked+s.Held)/float64(s.Admitted), 0.5)
}

// Bounds turn the supply into positions: up to GoodUntil the fans ahead (and
// those shopping now) are likely to leave at least a fifth of what is on sale;
// from UnlikelyFrom on, they would take everything even if every held ticket
// came back.
func (s Supply) Bounds() Bounds {
	k := s.perFan()
	good := int64(math.Floor(0.8*float64(s.Available)/k)) - s.Shoppers
	unlikely := int64(math.Ceil(float64(s.Available+s.Held)/k)) - s.Shoppers + 1
	return Bounds{GoodUntil: max(good, 0), UnlikelyFrom: max(unlikely, 1)}
}

// Outlook is the outlook of a fan at this position.
func (s Supply) Outlook(position int64) Outlook {
	if s.SoldOut() {
		return OutlookUnlikely
	}
	return s.Bounds().Outlook(position)
}

// Bounds are the positions where the outlook changes.
type Bounds struct {
	GoodUntil    int64 // good up to here
	UnlikelyFrom int64 // unlikely from here on; uncertain between
}

// Outlook is the outlook at a position. It is cheap enough to run once per live
// client per admission step.
func (b Bounds) Outlook(position int64) Outlook {
	switch {
	case position <= b.GoodUntil:
		return OutlookGood
	case position >= b.UnlikelyFrom:
		return OutlookUnlikely
	}
	return OutlookUncertain
}
