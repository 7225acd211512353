package queue

import "math"

// Outlooks a waiting fan sees.
const (
	OutlookGood      = "good"
	OutlookUncertain = "uncertain"
	OutlookUnlikely  = "unlikely"
)

// Supply is what the line knows of the inventory and of demand so far.
type Supply struct {
	Available int   // on sale now
	Held      int   // reserved, not yet paid: may come back
	Booked    int   // sold
	Shoppers  int64 // admitted and still shopping (active + pending)
	Admitted  int64 // admitted so far
}

// SoldOut is true when nothing is on sale: nobody admitted now could buy, so the
// line stops admitting and says so, until tickets come back (a hold released or
// expired, a booking cancelled). With nothing held either, it is final.
func (s Supply) SoldOut() bool { return s.Available <= 0 }

// perFan is the tickets an admitted fan takes, as measured so far. Before enough
// fans have shopped it assumes two, the most common party.
func (s Supply) perFan() float64 {
	if s.Admitted < 20 || s.Booked+s.Held == 0 {
		return 2
	}
	return max(float64(s.Booked+s.Held)/float64(s.Admitted), 0.5)
}

// Thresholds turn the supply into positions: up to goodUntil the fans ahead (and
// those shopping now) are likely to leave at least a fifth of what is on sale;
// from unlikelyFrom on, they would take everything even if every held ticket
// came back.
func (s Supply) Thresholds() (goodUntil, unlikelyFrom int64) {
	k := s.perFan()
	goodUntil = int64(math.Floor(0.8*float64(s.Available)/k)) - s.Shoppers
	unlikelyFrom = int64(math.Ceil(float64(s.Available+s.Held)/k)) - s.Shoppers + 1
	return max(goodUntil, 0), max(unlikelyFrom, 1)
}

// Outlook is the honest chance that a fan at this position gets tickets.
func (s Supply) Outlook(position int64) string {
	if s.SoldOut() {
		return OutlookUnlikely
	}
	good, unlikely := s.Thresholds()
	switch {
	case position <= good:
		return OutlookGood
	case position >= unlikely:
		return OutlookUnlikely
	}
	return OutlookUncertain
}
