package store

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/boxofficehq/boxoffice/inventory"
)

// Sale statuses of an event.
const (
	SaleScheduled = "scheduled"
	SaleLobby     = "lobby"
	SaleOpen      = "open"
	SaleSoldOut   = "sold_out"
	SaleClosed    = "closed"
)

// Limits on what one event may hold.
const (
	MaxEventCapacity = 1_000_000
	maxZones         = 100
	maxSeatsPerRow   = 1000
)

var (
	eventIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	zoneIDPattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$`)
	rowPattern     = regexp.MustCompile(`^[A-Za-z0-9]{1,8}$`)
	currencyRE     = regexp.MustCompile(`^[a-z]{3}$`)
)

// Event is a show on sale, with its zones and their live counts from the database.
type Event struct {
	ID                  string
	Name                string
	Venue               string
	Currency            string
	StartsAt            time.Time
	LobbyOpensAt        time.Time
	SaleOpensAt         time.Time
	HoldSeconds         int
	MaxTicketsPerUser   int
	MaxActiveShoppers   int
	AdmissionRate       int
	ClaimSeconds        int
	PresenceSeconds     int
	PaymentGraceSeconds int
	// Paused stops admissions from the line (the organizer's pause); places
	// and sessions already under way are kept.
	Paused           bool
	SaleStatus       string
	Capacity         int
	AvailableTickets int
	ReservedTickets  int
	BookedTickets    int
	Zones            []Zone
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Zone is a part of the venue with one price: a pool of numbered tickets or rows of seats.
type Zone struct {
	ID               string
	Name             string
	Kind             inventory.ZoneKind
	PriceCents       int64
	Capacity         int
	Rows             []Row // seated zones only
	AvailableTickets int
	ReservedTickets  int
	BookedTickets    int
}

// Row is a row of seats, nearest the stage first.
type Row struct {
	Row   string
	Seats int
}

// Settings are the per-event values an organizer sets at creation and may patch.
// Nil means "leave as it is" (or the default, at creation).
type Settings struct {
	Name                *string
	Venue               *string
	Currency            *string
	StartsAt            *time.Time
	LobbyOpensAt        *time.Time
	SaleOpensAt         *time.Time
	HoldSeconds         *int
	MaxTicketsPerUser   *int
	MaxActiveShoppers   *int
	AdmissionRate       *int
	ClaimSeconds        *int
	PresenceSeconds     *int
	PaymentGraceSeconds *int
	Paused              *bool
}

// NewEvent is what an event's creation needs.
type NewEvent struct {
	ID string
	Settings
	Zones []NewZone
}

// NewZone describes a zone at creation: a pool has a capacity, a seated zone rows.
type NewZone struct {
	ID         string
	Name       string
	Kind       inventory.ZoneKind
	PriceCents *int64
	Capacity   *int
	Rows       []Row
}

// apply copies the set fields onto e.
func (s *Settings) apply(e *Event) {
	setIf(&e.Name, s.Name)
	setIf(&e.Venue, s.Venue)
	setIf(&e.Currency, s.Currency)
	setIf(&e.StartsAt, s.StartsAt)
	setIf(&e.LobbyOpensAt, s.LobbyOpensAt)
	setIf(&e.SaleOpensAt, s.SaleOpensAt)
	setIf(&e.HoldSeconds, s.HoldSeconds)
	setIf(&e.MaxTicketsPerUser, s.MaxTicketsPerUser)
	setIf(&e.MaxActiveShoppers, s.MaxActiveShoppers)
	setIf(&e.AdmissionRate, s.AdmissionRate)
	setIf(&e.ClaimSeconds, s.ClaimSeconds)
	setIf(&e.PresenceSeconds, s.PresenceSeconds)
	setIf(&e.PaymentGraceSeconds, s.PaymentGraceSeconds)
	setIf(&e.Paused, s.Paused)
}

func setIf[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// validate checks the event's own settings (not its zones).
func (e *Event) validate() error {
	e.Name, e.Venue = strings.TrimSpace(e.Name), strings.TrimSpace(e.Venue)
	switch {
	case e.Name == "" || utf8.RuneCountInString(e.Name) > 200:
		return invalid("name", "must be 1 to 200 characters")
	case !printable(e.Name):
		return invalid("name", "must not contain control characters")
	case utf8.RuneCountInString(e.Venue) > 200 || !printable(e.Venue):
		return invalid("venue", "must be at most 200 characters, without control characters")
	case !currencyRE.MatchString(e.Currency):
		return invalid("currency", "must be a three-letter ISO code in lower case, such as usd")
	case e.StartsAt.IsZero():
		return invalid("starts_at", "is required")
	case e.SaleOpensAt.IsZero():
		return invalid("sale_opens_at", "is required")
	case !plausible(e.StartsAt):
		return invalid("starts_at", "must be between the years 2000 and 2999")
	case !plausible(e.SaleOpensAt):
		return invalid("sale_opens_at", "must be between the years 2000 and 2999")
	case !plausible(e.LobbyOpensAt):
		return invalid("lobby_opens_at", "must be between the years 2000 and 2999")
	case !e.SaleOpensAt.Before(e.StartsAt):
		return invalid("sale_opens_at", "must be before starts_at: the sale cannot open after the show")
	case e.LobbyOpensAt.After(e.SaleOpensAt):
		return invalid("lobby_opens_at", "must not be after sale_opens_at")
	}
	for _, r := range []struct {
		field    string
		v        int
		min, max int
	}{
		{"hold_seconds", e.HoldSeconds, 1, 86400},
		{"max_tickets_per_user", e.MaxTicketsPerUser, 1, 100},
		{"max_active_shoppers", e.MaxActiveShoppers, 1, 1_000_000},
		{"admission_rate", e.AdmissionRate, 0, 1_000_000},
		{"claim_seconds", e.ClaimSeconds, 1, 86400},
		{"presence_seconds", e.PresenceSeconds, 1, 86400},
		{"payment_grace_seconds", e.PaymentGraceSeconds, 0, 86400},
	} {
		if r.v < r.min || r.v > r.max {
			return invalid(r.field, "must be between %d and %d", r.min, r.max)
		}
	}
	return nil
}

// plausible keeps times where every client can represent them (JSON's RFC 3339
// stops at year 9999, and an offset can push a time past it).
func plausible(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 2000 && y <= 2999
}

// build turns the creation body into an event and its tickets, applying defaults
// and every rule about zones.
func (n *NewEvent) build() (*Event, []ticket, error) {
	if !eventIDPattern.MatchString(n.ID) {
		return nil, nil, invalid("id", "must be 1 to 64 letters, digits, '-' or '_', starting with a letter or digit")
	}
	e := &Event{
		ID: n.ID, Currency: "usd", HoldSeconds: 600, MaxTicketsPerUser: 6, MaxActiveShoppers: 2000,
		ClaimSeconds: 120, PresenceSeconds: 300, PaymentGraceSeconds: 120,
	}
	n.apply(e)
	if n.LobbyOpensAt == nil && plausible(e.SaleOpensAt) {
		e.LobbyOpensAt = e.SaleOpensAt.Add(-time.Hour)
	}
	if err := e.validate(); err != nil {
		return nil, nil, err
	}
	if len(n.Zones) == 0 {
		return nil, nil, invalid("zones", "must list at least one zone")
	}
	if len(n.Zones) > maxZones {
		return nil, nil, invalid("zones", "must list at most %d zones", maxZones)
	}
	var tickets []ticket
	seen := map[string]bool{}
	for i, nz := range n.Zones {
		field := fmt.Sprintf("zones[%d]", i)
		z, err := nz.build(field)
		if err != nil {
			return nil, nil, err
		}
		if seen[z.ID] {
			return nil, nil, invalid(field+".id", "repeats zone id %q", z.ID)
		}
		seen[z.ID] = true
		e.Capacity += z.Capacity
		if e.Capacity > MaxEventCapacity {
			return nil, nil, invalid("zones", "hold more than %d tickets in all", MaxEventCapacity)
		}
		e.Zones = append(e.Zones, *z)
		zt, err := z.tickets(field)
		if err != nil {
			return nil, nil, err
		}
		tickets = append(tickets, zt...)
	}
	return e, tickets, nil
}

func (nz *NewZone) build(field string) (*Zone, error) {
	z := &Zone{ID: nz.ID, Name: strings.TrimSpace(nz.Name), Kind: nz.Kind, Rows: nz.Rows}
	if !zoneIDPattern.MatchString(z.ID) {
		return nil, invalid(field+".id", "must be 1 to 32 letters, digits, '-' or '_'")
	}
	if z.Name == "" {
		z.Name = z.ID
	}
	if utf8.RuneCountInString(z.Name) > 200 || !printable(z.Name) {
		return nil, invalid(field+".name", "must be at most 200 characters, without control characters")
	}
	if nz.PriceCents == nil {
		return nil, invalid(field+".price_cents", "is required")
	}
	if z.PriceCents = *nz.PriceCents; z.PriceCents < 0 || z.PriceCents > 100_000_000 {
		return nil, invalid(field+".price_cents", "must be between 0 and 100000000")
	}
	switch z.Kind {
	case inventory.Pool:
		if len(nz.Rows) > 0 {
			return nil, invalid(field+".rows", "are for seated zones; a pool has a capacity")
		}
		if nz.Capacity == nil || *nz.Capacity <= 0 || *nz.Capacity > MaxEventCapacity {
			return nil, invalid(field+".capacity", "must be between 1 and %d", MaxEventCapacity)
		}
		z.Capacity = *nz.Capacity
	case inventory.Seated:
		if len(nz.Rows) == 0 {
			return nil, invalid(field+".rows", "must list at least one row")
		}
		for j, r := range nz.Rows {
			if !rowPattern.MatchString(r.Row) {
				return nil, invalid(fmt.Sprintf("%s.rows[%d].row", field, j), "must be 1 to 8 letters or digits")
			}
			if r.Seats <= 0 || r.Seats > maxSeatsPerRow {
				return nil, invalid(fmt.Sprintf("%s.rows[%d].seats", field, j), "must be between 1 and %d", maxSeatsPerRow)
			}
			z.Capacity += r.Seats
			if z.Capacity > MaxEventCapacity {
				return nil, invalid(field+".rows", "hold more than %d seats", MaxEventCapacity)
			}
		}
		if nz.Capacity != nil && *nz.Capacity != z.Capacity {
			return nil, invalid(field+".capacity", "is %d but the rows hold %d seats; leave it out for seated zones", *nz.Capacity, z.Capacity)
		}
	default:
		return nil, invalid(field+".kind", "must be %q or %q", inventory.Pool, inventory.Seated)
	}
	return z, nil
}

// ticket is one row of the tickets table before it is written.
type ticket struct {
	zoneID    string
	number    int
	seatID    *string
	seatRow   *string
	rowIndex  *int
	seatIndex *int
}

// tickets numbers the zone's tickets in stage order. Seats are named row + letters
// (1A, 1B, … 1Z, 1AA): the row part is the venue's, so with numeric rows no two
// seats share an id, and a collision with other row names is refused.
func (z *Zone) tickets(field string) ([]ticket, error) {
	out := make([]ticket, 0, z.Capacity)
	if z.Kind == inventory.Pool {
		for i := 1; i <= z.Capacity; i++ {
			out = append(out, ticket{zoneID: z.ID, number: i})
		}
		return out, nil
	}
	seen := make(map[string]bool, z.Capacity)
	n := 0
	for ri, r := range z.Rows {
		for si := 1; si <= r.Seats; si++ {
			n++
			id := r.Row + SeatLetters(si)
			if seen[id] {
				return nil, invalid(field+".rows", "name seat %s twice; use distinct row names", id)
			}
			seen[id] = true
			row, rowIndex, seatIndex := r.Row, ri, si
			out = append(out, ticket{zoneID: z.ID, number: n, seatID: &id, seatRow: &row, rowIndex: &rowIndex, seatIndex: &seatIndex})
		}
	}
	return out, nil
}

// SeatLetters names the n-th seat of a row (1-based) as A…Z, AA, AB, …
func SeatLetters(n int) string {
	var b []byte
	for ; n > 0; n = (n - 1) / 26 {
		b = append([]byte{byte('A' + (n-1)%26)}, b...)
	}
	return string(b)
}

// CreateEvent stores the event, its zones and one row per ticket in one
// transaction. A taken event id is a *DuplicateError naming "id".
func (db *DB) CreateEvent(ctx context.Context, n NewEvent, createdBy string) (*Event, error) {
	e, tickets, err := n.build()
	if err != nil {
		return nil, err
	}
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		const qe = `
			INSERT INTO events (id, name, venue, currency, starts_at, lobby_opens_at, sale_opens_at,
				hold_seconds, max_tickets_per_user, max_active_shoppers, admission_rate,
				claim_seconds, presence_seconds, payment_grace_seconds, paused, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`
		if _, err := tx.Exec(ctx, qe, e.ID, e.Name, e.Venue, e.Currency, e.StartsAt, e.LobbyOpensAt, e.SaleOpensAt,
			e.HoldSeconds, e.MaxTicketsPerUser, e.MaxActiveShoppers, e.AdmissionRate,
			e.ClaimSeconds, e.PresenceSeconds, e.PaymentGraceSeconds, e.Paused, createdBy); err != nil {
			return fmt.Errorf("insert event: %w", translate(err))
		}
		const qz = `
			INSERT INTO zones (event_id, id, position, name, kind, price_cents, capacity, rows)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
		for i, z := range e.Zones {
			var rows any // NULL for a pool
			if z.Kind == inventory.Seated {
				rows = rowsColumn(z.Rows)
			}
			if _, err := tx.Exec(ctx, qz, e.ID, z.ID, i, z.Name, z.Kind, z.PriceCents, z.Capacity, rows); err != nil {
				return fmt.Errorf("insert zone %s: %w", z.ID, translate(err))
			}
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"tickets"},
			[]string{"event_id", "zone_id", "number", "seat_id", "seat_row", "row_index", "seat_index"},
			pgx.CopyFromSlice(len(tickets), func(i int) ([]any, error) {
				t := tickets[i]
				return []any{e.ID, t.zoneID, t.number, t.seatID, t.seatRow, t.rowIndex, t.seatIndex}, nil
			}))
		if err != nil {
			return fmt.Errorf("insert tickets: %w", translate(err))
		}
		// The planner's statistics must know the new rows before the sale
		// reads them, whether autovacuum runs or not. In a savepoint: an
		// ANALYZE that fails (cancelled, say) costs the statistics only.
		_ = pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
			_, err := sp.Exec(ctx, `ANALYZE tickets`)
			return err
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db.Event(ctx, e.ID)
}

// rowColumn is a row as the zones.rows column (JSON) stores it. It is the
// column's format, not the API's: Row has no JSON names of its own, and
// encoding it bare would write {"Row", "Seats"} where rows already stored say
// {"row", "seats"}.
type rowColumn struct {
	Row   string `json:"row"`
	Seats int    `json:"seats"`
}

func rowsColumn(rows []Row) []rowColumn {
	out := make([]rowColumn, len(rows))
	for i, r := range rows {
		out[i] = rowColumn(r)
	}
	return out
}

const eventColumns = `
	id, name, venue, currency, starts_at, lobby_opens_at, sale_opens_at, hold_seconds,
	max_tickets_per_user, max_active_shoppers, admission_rate, claim_seconds,
	presence_seconds, payment_grace_seconds, paused, created_at, updated_at`

func scanEvent(row pgx.Row) (*Event, error) {
	var e Event
	err := row.Scan(&e.ID, &e.Name, &e.Venue, &e.Currency, &e.StartsAt, &e.LobbyOpensAt, &e.SaleOpensAt,
		&e.HoldSeconds, &e.MaxTicketsPerUser, &e.MaxActiveShoppers, &e.AdmissionRate, &e.ClaimSeconds,
		&e.PresenceSeconds, &e.PaymentGraceSeconds, &e.Paused, &e.CreatedAt, &e.UpdatedAt)
	if err != nil {
		return nil, translate(err)
	}
	return &e, nil
}

// Event returns one event with its zones and their counts.
func (db *DB) Event(ctx context.Context, id string) (*Event, error) {
	e, err := scanEvent(db.pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", id, err)
	}
	if err := db.loadZones(ctx, []*Event{e}); err != nil {
		return nil, err
	}
	return e, nil
}

// Events lists every event, soonest sale first.
func (db *DB) Events(ctx context.Context) ([]*Event, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+eventColumns+` FROM events ORDER BY sale_opens_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Event, error) { return scanEvent(r) })
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	if err := db.loadZones(ctx, events); err != nil {
		return nil, err
	}
	return events, nil
}

// loadZones fills in zones and per-zone counts, counted from the tickets themselves.
func (db *DB) loadZones(ctx context.Context, events []*Event) error {
	if len(events) == 0 {
		return nil
	}
	byID := make(map[string]*Event, len(events))
	ids := make([]string, len(events))
	for i, e := range events {
		byID[e.ID], ids[i] = e, e.ID
	}
	const q = `
		SELECT z.event_id, z.id, z.name, z.kind, z.price_cents, z.capacity, z.rows,
			count(*) FILTER (WHERE t.status = 'AVAILABLE'),
			count(*) FILTER (WHERE t.status = 'RESERVED'),
			count(*) FILTER (WHERE t.status = 'BOOKED')
		FROM zones z LEFT JOIN tickets t ON t.event_id = z.event_id AND t.zone_id = z.id
		WHERE z.event_id = ANY($1)
		GROUP BY z.event_id, z.id
		ORDER BY z.event_id, z.position`
	rows, err := db.pool.Query(ctx, q, ids)
	if err != nil {
		return fmt.Errorf("load zones: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			eventID string
			z       Zone
			seats   []rowColumn
		)
		if err := rows.Scan(&eventID, &z.ID, &z.Name, &z.Kind, &z.PriceCents, &z.Capacity, &seats,
			&z.AvailableTickets, &z.ReservedTickets, &z.BookedTickets); err != nil {
			return fmt.Errorf("load zones: %w", err)
		}
		for _, r := range seats {
			z.Rows = append(z.Rows, Row(r))
		}
		e := byID[eventID]
		e.Zones = append(e.Zones, z)
		e.Capacity += z.Capacity
		e.AvailableTickets += z.AvailableTickets
		e.ReservedTickets += z.ReservedTickets
		e.BookedTickets += z.BookedTickets
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load zones: %w", err)
	}
	now := db.now()
	for _, e := range events {
		e.SaleStatus = e.SaleStatusAt(now, e.AvailableTickets)
	}
	return nil
}

// SaleStatusAt is where the sale stands at now with available tickets on sale.
// It is the one rule for the status: GET /events/{id} applies it to the
// database's counts, the live feed (sale.update) and the line to Redis's (or,
// while Redis has not the event, to the database's).
func (e *Event) SaleStatusAt(now time.Time, available int) string {
	switch {
	case !now.Before(e.StartsAt):
		return SaleClosed
	case now.Before(e.LobbyOpensAt):
		return SaleScheduled
	case now.Before(e.SaleOpensAt):
		return SaleLobby
	case SoldOut(available):
		return SaleSoldOut
	default:
		return SaleOpen
	}
}

// SoldOut is true when nothing is on sale. Held tickets do not count: they may
// come back (a hold released or expired), and the sale then opens again, but
// until then nobody could buy, so the line stops admitting.
func SoldOut(available int) bool { return available <= 0 }

// Zone returns one zone of an event.
func (e *Event) Zone(id string) (*Zone, bool) {
	for i := range e.Zones {
		if e.Zones[i].ID == id {
			return &e.Zones[i], true
		}
	}
	return nil, false
}

// UpdateEvent applies an organizer's changes. Once the sale has opened its times
// before the opening are history and cannot move.
func (db *DB) UpdateEvent(ctx context.Context, id string, s Settings) (*Event, error) {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		e, err := scanEvent(tx.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return fmt.Errorf("event %s: %w", id, err)
		}
		now := db.now()
		if !now.Before(e.SaleOpensAt) && (changed(s.SaleOpensAt, e.SaleOpensAt) || changed(s.LobbyOpensAt, e.LobbyOpensAt)) {
			return &ValidationError{Field: "sale_opens_at", Message: "cannot change: the sale has already opened"}
		}
		if s.Currency != nil && *s.Currency != e.Currency {
			return invalid("currency", "cannot change once tickets are priced")
		}
		s.apply(e)
		if err := e.validate(); err != nil {
			return err
		}
		const q = `
			UPDATE events SET name = $2, venue = $3, starts_at = $4, lobby_opens_at = $5,
				sale_opens_at = $6, hold_seconds = $7, max_tickets_per_user = $8,
				max_active_shoppers = $9, admission_rate = $10, claim_seconds = $11,
				presence_seconds = $12, payment_grace_seconds = $13, paused = $14, updated_at = now()
			WHERE id = $1`
		_, err = tx.Exec(ctx, q, e.ID, e.Name, e.Venue, e.StartsAt, e.LobbyOpensAt, e.SaleOpensAt,
			e.HoldSeconds, e.MaxTicketsPerUser, e.MaxActiveShoppers, e.AdmissionRate, e.ClaimSeconds,
			e.PresenceSeconds, e.PaymentGraceSeconds, e.Paused)
		if err != nil {
			return fmt.Errorf("update event %s: %w", id, translate(err))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db.Event(ctx, id)
}

func changed(v *time.Time, old time.Time) bool { return v != nil && !v.Equal(old) }

// Seat is one seat's state.
type Seat struct {
	ID     string
	Row    string
	Status inventory.TicketStatus
}

// Seats lists a seated zone's seats in stage order.
func (db *DB) Seats(ctx context.Context, eventID, zoneID string) ([]Seat, error) {
	const q = `
		SELECT seat_id, seat_row, status FROM tickets
		WHERE event_id = $1 AND zone_id = $2
		ORDER BY number`
	rows, err := db.pool.Query(ctx, q, eventID, zoneID)
	if err != nil {
		return nil, fmt.Errorf("seats: %w", err)
	}
	seats, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Seat])
	if err != nil {
		return nil, fmt.Errorf("seats: %w", err)
	}
	return seats, nil
}

// Sales sums an event's confirmed bookings.
func (db *DB) Sales(ctx context.Context, eventID string) (bookings int, revenueCents int64, err error) {
	const q = `
		SELECT count(*), coalesce(sum(amount_cents), 0)::bigint
		FROM bookings WHERE event_id = $1 AND status = 'CONFIRMED'`
	if err := db.pool.QueryRow(ctx, q, eventID).Scan(&bookings, &revenueCents); err != nil {
		return 0, 0, fmt.Errorf("sales: %w", err)
	}
	return bookings, revenueCents, nil
}

// OnSale lists the events whose line is open now (from the lobby's opening until
// the show starts), with their zones and counts like Event.
func (db *DB) OnSale(ctx context.Context) ([]*Event, error) {
	const q = `SELECT ` + eventColumns + ` FROM events WHERE lobby_opens_at <= $1 AND starts_at > $1 ORDER BY id`
	rows, err := db.pool.Query(ctx, q, db.now())
	if err != nil {
		return nil, fmt.Errorf("events on sale: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Event, error) { return scanEvent(r) })
	if err != nil {
		return nil, fmt.Errorf("events on sale: %w", err)
	}
	if err := db.loadZones(ctx, events); err != nil {
		return nil, err
	}
	return events, nil
}
