package queue

import (
	"fmt"
	"math"
	"time"
)

// Status is where a fan stands, as the fan sees it: in answers, in live
// messages and in each live connection's state.
type Status string

const (
	StatusLobby    Status = "lobby"    // came before the opening: no place number yet
	StatusWaiting  Status = "waiting"  // numbered; each admission moves the position
	StatusAdmitted Status = "admitted" // shopping
	StatusSoldOut  Status = "sold_out" // waiting while nothing is on sale
	// For live connections only:
	StatusNone    Status = "none"    // not in line, watching
	StatusExpired Status = "expired" // the shopping session ended; the place is used up
)

// Place is a fan's standing in the line.
type Place struct {
	Status     Status
	JoinID     string
	Number     int64
	Position   *int64
	Ahead      *int64
	ETASeconds *int64
	OpensAt    time.Time
	// Admission is the shopping session the fan has claimed (status admitted).
	Admission *Admission
	// New is true when this call took the place: a first join, or a join after
	// the fan's earlier place was used up.
	New bool
}

// Admission is a claimed admission: the shopping session it started.
type Admission struct {
	SessionID string
	ExpiresAt time.Time
}

// MaxETA caps an estimate, so that a tiny admission rate cannot overflow int64.
const MaxETA = 1 << 40

// PositionOf is the position of the fan numbered number once admitted places
// have been reached (1 is next), and how many fans are ahead.
func PositionOf(number, admitted int64) (position, ahead int64) {
	position = max(number-admitted, 1)
	return position, position - 1
}

// ETA is the seconds until ahead fans are admitted at rate per second; false
// while the rate is unknown (0).
func ETA(ahead int64, rate float64) (int64, bool) {
	if !(rate > 0) {
		return 0, false
	}
	eta := math.Ceil(float64(ahead) / rate)
	if eta > MaxETA {
		return MaxETA, true
	}
	return int64(eta), true
}

// setPosition fills the numbers a waiting fan sees from the admission counter.
func (p *Place) setPosition(admitted int64, ratePerSecond float64) {
	pos, ahead := PositionOf(p.Number, admitted)
	p.Position, p.Ahead = &pos, &ahead
	if eta, ok := ETA(ahead, ratePerSecond); ok {
		p.ETASeconds = &eta
	}
}

// rateOf is the admissions per second between the newest and the oldest of the
// "ms:counter" samples (one a second over the last minute).
func rateOf(samples []string) float64 {
	if len(samples) < 2 {
		return 0
	}
	var t1, a1, t0, a0 int64
	fmt.Sscanf(samples[0], "%d:%d", &t1, &a1)
	fmt.Sscanf(samples[len(samples)-1], "%d:%d", &t0, &a0)
	if t1 <= t0 {
		return 0
	}
	return float64(a1-a0) * 1000 / float64(t1-t0)
}
