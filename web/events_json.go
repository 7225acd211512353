package web

import (
	"time"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/store"
)

// The JSON shapes of events, zones, seats and users, and the request bodies
// that create or change them (web/openapi.yaml). Bodies are read with unknown
// fields refused (decode), so each lists exactly the fields the API accepts;
// pointers tell "not given" from a zero.

type eventJSON struct {
	ID                  string     `json:"id"`
	Name                string     `json:"name"`
	Venue               string     `json:"venue"`
	Currency            string     `json:"currency"`
	StartsAt            time.Time  `json:"starts_at"`
	LobbyOpensAt        time.Time  `json:"lobby_opens_at"`
	SaleOpensAt         time.Time  `json:"sale_opens_at"`
	HoldSeconds         int        `json:"hold_seconds"`
	MaxTicketsPerUser   int        `json:"max_tickets_per_user"`
	MaxActiveShoppers   int        `json:"max_active_shoppers"`
	AdmissionRate       int        `json:"admission_rate"`
	ClaimSeconds        int        `json:"claim_seconds"`
	PresenceSeconds     int        `json:"presence_seconds"`
	PaymentGraceSeconds int        `json:"payment_grace_seconds"`
	Paused              bool       `json:"paused"`
	SaleStatus          string     `json:"sale_status"`
	Capacity            int        `json:"capacity"`
	AvailableTickets    int        `json:"available_tickets"`
	ReservedTickets     int        `json:"reserved_tickets"`
	BookedTickets       int        `json:"booked_tickets"`
	Zones               []zoneJSON `json:"zones"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
}

func eventOf(e *store.Event) eventJSON {
	return eventJSON{ID: e.ID, Name: e.Name, Venue: e.Venue, Currency: e.Currency, StartsAt: e.StartsAt,
		LobbyOpensAt: e.LobbyOpensAt, SaleOpensAt: e.SaleOpensAt, HoldSeconds: e.HoldSeconds,
		MaxTicketsPerUser: e.MaxTicketsPerUser, MaxActiveShoppers: e.MaxActiveShoppers, AdmissionRate: e.AdmissionRate,
		ClaimSeconds: e.ClaimSeconds, PresenceSeconds: e.PresenceSeconds, PaymentGraceSeconds: e.PaymentGraceSeconds,
		Paused: e.Paused, SaleStatus: e.SaleStatus, Capacity: e.Capacity, AvailableTickets: e.AvailableTickets,
		ReservedTickets: e.ReservedTickets, BookedTickets: e.BookedTickets, Zones: list(e.Zones, zoneOf),
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

type zoneJSON struct {
	ID               string             `json:"id"`
	Name             string             `json:"name"`
	Kind             inventory.ZoneKind `json:"kind"`
	PriceCents       int64              `json:"price_cents"`
	Capacity         int                `json:"capacity"`
	Rows             []rowJSON          `json:"rows,omitempty"` // seated zones only
	AvailableTickets int                `json:"available_tickets"`
	ReservedTickets  int                `json:"reserved_tickets"`
	BookedTickets    int                `json:"booked_tickets"`
}

func zoneOf(z store.Zone) zoneJSON {
	return zoneJSON{ID: z.ID, Name: z.Name, Kind: z.Kind, PriceCents: z.PriceCents, Capacity: z.Capacity,
		Rows: list(z.Rows, func(r store.Row) rowJSON { return rowJSON(r) }), AvailableTickets: z.AvailableTickets,
		ReservedTickets: z.ReservedTickets, BookedTickets: z.BookedTickets}
}

// rowJSON is a row of seats, in answers and in a new zone.
type rowJSON struct {
	Row   string `json:"row"`
	Seats int    `json:"seats"`
}

type seatJSON struct {
	ID     string                 `json:"id"`
	Row    string                 `json:"row"`
	Status inventory.TicketStatus `json:"status"`
}

func seatOf(s store.Seat) seatJSON { return seatJSON{ID: s.ID, Row: s.Row, Status: s.Status} }

type userJSON struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Role  string `json:"role"`
}

func userOf(u *store.User) userJSON {
	return userJSON{ID: u.ID, Name: u.Name, Email: u.Email, Role: u.Role}
}

// user is the account the JSON shows (a replayed sign-in reads it back).
func (u userJSON) user() *store.User {
	return &store.User{ID: u.ID, Name: u.Name, Email: u.Email, Role: u.Role}
}

// registration is POST /users.
type registration struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// settingsJSON are an event's settings as creation and PATCH take them.
type settingsJSON struct {
	Name                *string    `json:"name"`
	Venue               *string    `json:"venue"`
	Currency            *string    `json:"currency"`
	StartsAt            *time.Time `json:"starts_at"`
	LobbyOpensAt        *time.Time `json:"lobby_opens_at"`
	SaleOpensAt         *time.Time `json:"sale_opens_at"`
	HoldSeconds         *int       `json:"hold_seconds"`
	MaxTicketsPerUser   *int       `json:"max_tickets_per_user"`
	MaxActiveShoppers   *int       `json:"max_active_shoppers"`
	AdmissionRate       *int       `json:"admission_rate"`
	ClaimSeconds        *int       `json:"claim_seconds"`
	PresenceSeconds     *int       `json:"presence_seconds"`
	PaymentGraceSeconds *int       `json:"payment_grace_seconds"`
	Paused              *bool      `json:"paused"`
}

func (s settingsJSON) settings() store.Settings { return store.Settings(s) }

// newEvent is POST /events.
type newEvent struct {
	ID string `json:"id"`
	settingsJSON
	Zones []newZone `json:"zones"`
}

func (n newEvent) event() store.NewEvent {
	return store.NewEvent{ID: n.ID, Settings: n.settings(), Zones: list(n.Zones, newZone.zone)}
}

type newZone struct {
	ID         string             `json:"id"`
	Name       string             `json:"name"`
	Kind       inventory.ZoneKind `json:"kind"`
	PriceCents *int64             `json:"price_cents"`
	Capacity   *int               `json:"capacity"`
	Rows       []rowJSON          `json:"rows"`
}

func (z newZone) zone() store.NewZone {
	return store.NewZone{ID: z.ID, Name: z.Name, Kind: z.Kind, PriceCents: z.PriceCents, Capacity: z.Capacity,
		Rows: list(z.Rows, func(r rowJSON) store.Row { return store.Row(r) })}
}

// eventPatch is PATCH /events/{id}: the settings, and zones only to refuse them clearly.
type eventPatch struct {
	settingsJSON
	Zones any `json:"zones"`
}
