package realtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/boxofficehq/boxoffice/queue"
)

// Message types. Every type but TypeQueueTick is also the type the client
// sees; a queue.tick becomes one queue.update per waiting client.
const (
	TypeQueueTick          = "queue.tick"
	TypeQueueUpdate        = "queue.update"
	TypeSessionAdmitted    = "session.admitted"
	TypeSessionExpired     = "session.expired"
	TypeReservationExpired = "reservation.expired"
	TypeSaleUpdate         = "sale.update"
	TypeAvailabilityUpdate = "availability.update"
	TypeSeatUpdate         = "seat.update"
)

// ErrInvalidMessage is returned by Publish for a message that no replica could deliver.
var ErrInvalidMessage = errors.New("invalid live message")

// Message is what travels on an event's bus channel (see Channel), as JSON.
// Which fields count depends on Type:
//
//   - queue.tick: Admitted, EtaRate, TicketsLeft, Outlook, Status, AdmittedUsers.
//     Broadcast; every replica turns it into a queue.update per waiting client.
//   - queue.update, session.admitted, session.expired, reservation.expired:
//     targeted at UserID (all of the user's tabs on every replica).
//     queue.update: Status, Position, Ahead, EtaSeconds, TicketsLeft, Outlook, Number;
//     session.admitted: SessionID, ExpiresAt; session.expired: SessionID, Reason;
//     reservation.expired: ReservationID.
//   - sale.update (SaleStatus), availability.update (ZoneID, AvailableTickets),
//     seat.update (ZoneID, Seats): broadcast to every client of the event.
//
// A Lua script may publish a tick itself with cjson, as long as it writes these
// names and leaves out an empty admitted_users (cjson writes an empty table as {},
// which does not decode as a list, so the tick would be dropped).
type Message struct {
	Type   string `json:"type"`
	UserID string `json:"user_id,omitempty"`

	// Admitted is the line's admission counter: a fan numbered n is at position n-Admitted.
	Admitted int64 `json:"admitted,omitempty"`
	// EtaRate is the measured admissions per second; 0 means unknown (eta_seconds null).
	EtaRate float64 `json:"eta_rate,omitempty"`
	// TicketsLeft goes to the client as is, so it is sent even when 0 (sold out).
	TicketsLeft int           `json:"tickets_left"`
	Outlook     queue.Outlook `json:"outlook,omitempty"`
	// GoodUntil and UnlikelyFrom turn a tick's outlook into each fan's own: up to
	// position GoodUntil it is "good", from UnlikelyFrom "unlikely", between them
	// "uncertain". Zero leaves Outlook as given.
	GoodUntil    int64 `json:"good_until,omitempty"`
	UnlikelyFrom int64 `json:"unlikely_from,omitempty"`
	// Status is the client-facing status of a queue.update; empty means "waiting".
	Status queue.Status `json:"status,omitempty"`
	// AdmittedUsers are users admitted by this tick: their tabs stop receiving
	// positions at once, before their session.admitted arrives.
	AdmittedUsers []string `json:"admitted_users,omitempty"`

	// Number, in a targeted queue.update, sets the user's place in line so later ticks move it.
	Number     int64  `json:"number,omitempty"`
	Position   *int64 `json:"position,omitempty"`
	Ahead      *int64 `json:"ahead,omitempty"`
	EtaSeconds *int64 `json:"eta_seconds,omitempty"`

	SessionID string    `json:"session_id,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Reason says why a session ended (session.expired): timed_out, booked or left.
	Reason        string `json:"reason,omitempty"`
	ReservationID string `json:"reservation_id,omitempty"`

	SaleStatus       string            `json:"sale_status,omitempty"`
	ZoneID           string            `json:"zone_id,omitempty"`
	AvailableTickets int               `json:"available_tickets"`
	Seats            map[string]string `json:"seats,omitempty"`
}

func (m *Message) validate() error {
	targeted := false
	switch m.Type {
	case TypeQueueTick:
		if m.Admitted < 0 || m.EtaRate < 0 || math.IsNaN(m.EtaRate) || math.IsInf(m.EtaRate, 0) {
			return fmt.Errorf("%w: queue.tick needs admitted >= 0 and a finite eta_rate >= 0", ErrInvalidMessage)
		}
	case TypeQueueUpdate, TypeSessionAdmitted, TypeSessionExpired, TypeReservationExpired:
		targeted = true
	case TypeSaleUpdate:
		if m.SaleStatus == "" {
			return fmt.Errorf("%w: sale.update needs sale_status", ErrInvalidMessage)
		}
	case TypeAvailabilityUpdate:
		if m.ZoneID == "" {
			return fmt.Errorf("%w: availability.update needs zone_id", ErrInvalidMessage)
		}
	case TypeSeatUpdate:
		if m.ZoneID == "" || len(m.Seats) == 0 {
			return fmt.Errorf("%w: seat.update needs zone_id and seats", ErrInvalidMessage)
		}
	default:
		return fmt.Errorf("%w: unknown type %q", ErrInvalidMessage, m.Type)
	}
	if targeted != (m.UserID != "") {
		return fmt.Errorf("%w: user_id is required for %s and only for targeted types", ErrInvalidMessage, m.Type)
	}
	return nil
}

// The client-facing shapes (README, "Live messages"). Fields are never omitted
// where the table lists them, so a client can rely on their presence.
type (
	queueUpdate struct {
		Type        string        `json:"type"`
		UserID      string        `json:"user_id"`
		Status      queue.Status  `json:"status"`
		Position    *int64        `json:"position"`
		Ahead       *int64        `json:"ahead"`
		EtaSeconds  *int64        `json:"eta_seconds"`
		TicketsLeft int           `json:"tickets_left"`
		Outlook     queue.Outlook `json:"outlook,omitempty"`
	}
	sessionAdmitted struct {
		Type      string `json:"type"`
		SessionID string `json:"session_id"`
		ExpiresAt string `json:"expires_at"`
	}
	sessionExpired struct {
		Type      string `json:"type"`
		SessionID string `json:"session_id"`
		Reason    string `json:"reason,omitempty"`
	}
	reservationExpired struct {
		Type          string `json:"type"`
		ReservationID string `json:"reservation_id"`
	}
	saleUpdate struct {
		Type       string `json:"type"`
		SaleStatus string `json:"sale_status"`
	}
	availabilityUpdate struct {
		Type             string `json:"type"`
		ZoneID           string `json:"zone_id"`
		AvailableTickets int    `json:"available_tickets"`
	}
	seatUpdate struct {
		Type   string            `json:"type"`
		ZoneID string            `json:"zone_id"`
		Seats  map[string]string `json:"seats"`
	}
)

// ClientJSON is a targeted or sale.update message as its clients receive it,
// for a snapshot that must match the live messages.
func ClientJSON(m Message) (json.RawMessage, error) { return clientMessage(&m) }

// clientMessage encodes the client-facing form of a targeted or sale message.
func clientMessage(m *Message) ([]byte, error) {
	switch m.Type {
	case TypeQueueUpdate:
		status := m.Status
		if status == "" {
			status = queue.StatusWaiting
		}
		return json.Marshal(queueUpdate{Type: m.Type, UserID: m.UserID, Status: status, Position: m.Position,
			Ahead: m.Ahead, EtaSeconds: m.EtaSeconds, TicketsLeft: m.TicketsLeft, Outlook: m.Outlook})
	case TypeSessionAdmitted:
		return json.Marshal(sessionAdmitted{Type: m.Type, SessionID: m.SessionID,
			ExpiresAt: m.ExpiresAt.UTC().Format(time.RFC3339)})
	case TypeSessionExpired:
		return json.Marshal(sessionExpired{Type: m.Type, SessionID: m.SessionID, Reason: m.Reason})
	case TypeReservationExpired:
		return json.Marshal(reservationExpired{Type: m.Type, ReservationID: m.ReservationID})
	case TypeSaleUpdate:
		return json.Marshal(saleUpdate{Type: m.Type, SaleStatus: m.SaleStatus})
	}
	return nil, fmt.Errorf("%w: no client form for %q", ErrInvalidMessage, m.Type)
}

// tick is one admission step, shared read-only by every client it reaches:
// each client's writer renders its own queue.update from it, so the fan-out
// costs a pointer store per client and the encoding runs in parallel.
type tick struct {
	admitted int64
	rate     float64
	bounds   queue.Bounds // each client's outlook, when perClient
	// perClient: the outlook depends on the position; otherwise outlook is the
	// same for everyone.
	perClient bool
	head      []byte // `,"status":"waiting","position":`
	tail      []byte // `,"tickets_left":812`
	outlook   []byte // `,"outlook":"good"}` when the same for everyone
}

// Each outlook's ending of a queue.update, encoded once.
var (
	outlookGood      = []byte(`,"outlook":"` + queue.OutlookGood + `"}`)
	outlookUncertain = []byte(`,"outlook":"` + queue.OutlookUncertain + `"}`)
	outlookUnlikely  = []byte(`,"outlook":"` + queue.OutlookUnlikely + `"}`)
)

func newTick(m *Message, admitted int64) *tick {
	status := m.Status
	if status == "" {
		status = queue.StatusWaiting
	}
	t := &tick{admitted: admitted, rate: m.EtaRate}
	if math.IsNaN(t.rate) || math.IsInf(t.rate, 0) || t.rate < 0 {
		t.rate = 0 // a script's bad rate must not break encoding: the ETA is just unknown
	}
	if m.GoodUntil > 0 || m.UnlikelyFrom > 0 {
		t.perClient = true
		t.bounds = queue.Bounds{GoodUntil: m.GoodUntil, UnlikelyFrom: m.UnlikelyFrom}
		if t.bounds.UnlikelyFrom <= 0 {
			t.bounds.UnlikelyFrom = math.MaxInt64 // not given: nobody is unlikely
		}
	}
	t.head = append(t.head, `,"status":`...)
	t.head = appendJSONString(t.head, string(status))
	t.head = append(t.head, `,"position":`...)
	t.tail = append(t.tail, `,"tickets_left":`...)
	t.tail = strconv.AppendInt(t.tail, int64(m.TicketsLeft), 10)
	if m.Outlook != "" {
		t.outlook = append(t.outlook, `,"outlook":`...)
		t.outlook = appendJSONString(t.outlook, string(m.Outlook))
	}
	t.outlook = append(t.outlook, '}')
	return t
}

// appendUpdate appends the queue.update of the client numbered number; by hand,
// as this runs once per waiting client per tick, but with queue's arithmetic.
func (t *tick) appendUpdate(b, userJSON []byte, number int64) []byte {
	position, ahead := queue.PositionOf(number, t.admitted)
	b = append(b, `{"type":"queue.update","user_id":`...)
	b = append(b, userJSON...)
	b = append(b, t.head...)
	b = strconv.AppendInt(b, position, 10)
	b = append(b, `,"ahead":`...)
	b = strconv.AppendInt(b, ahead, 10)
	b = append(b, `,"eta_seconds":`...)
	if eta, ok := queue.ETA(ahead, t.rate); ok {
		b = strconv.AppendInt(b, eta, 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, t.tail...)
	if !t.perClient {
		return append(b, t.outlook...)
	}
	switch t.bounds.Outlook(position) {
	case queue.OutlookGood:
		return append(b, outlookGood...)
	case queue.OutlookUnlikely:
		return append(b, outlookUnlikely...)
	}
	return append(b, outlookUncertain...)
}

func appendJSONString(b []byte, s string) []byte {
	enc, _ := json.Marshal(s) // a string always encodes
	return append(b, enc...)
}
