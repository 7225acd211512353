package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/boxofficehq/boxoffice/store"
)

// The demo's fixed names, so that running it twice changes nothing.
const (
	demoOrganizerEmail = "organizer@boxoffice.example"
	demoEventID        = "boxoffice-live"
)

// demo creates the demo organizer (its password printed once, at creation) and
// the demo concert: 10,000 tickets in a GA pool, VIP seats and a Millionaire Pit.
func demo(ctx context.Context, cfg *config, stdout io.Writer) error {
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, _, err := store.Migrate(pool, "up"); err != nil {
		return err
	}
	db := store.New(pool)

	org, err := demoOrganizer(ctx, db, cfg, stdout)
	if err != nil {
		return err
	}

	opensAt := time.Now().Add(2 * time.Minute).Truncate(time.Second).UTC()
	if cfg.DemoOpensAt != "" {
		if opensAt, err = time.Parse(time.RFC3339, cfg.DemoOpensAt); err != nil {
			return fmt.Errorf("-opens-at: want RFC 3339 such as 2026-12-01T10:00:00Z, got %q", cfg.DemoOpensAt)
		}
	}
	_, err = db.CreateEvent(ctx, store.DemoConcert(demoEventID, opensAt), org.ID)
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "demo concert: %s, 10000 tickets, sale opens %s\n", demoEventID, opensAt.Format(time.RFC3339))
	case errors.Is(err, store.ErrDuplicate):
		fmt.Fprintf(stdout, "demo concert: %s exists, left as it is\n", demoEventID)
	default:
		return fmt.Errorf("demo concert: %w", err)
	}
	return nil
}

// demoOrganizer is the account that owns the demo: the configured organizer
// (BOXOFFICE_ORGANIZER_*), or else organizer@boxoffice.example with a random
// password shown once, when it is made.
func demoOrganizer(ctx context.Context, db *store.DB, cfg *config, stdout io.Writer) (*store.User, error) {
	if cfg.OrganizerEmail != "" {
		u, _, err := db.EnsureOrganizer(ctx, store.Registration{Name: "Organizer", Email: cfg.OrganizerEmail, Password: cfg.OrganizerPassword})
		if err != nil {
			return nil, fmt.Errorf("BOXOFFICE_ORGANIZER_EMAIL: %w", err)
		}
		fmt.Fprintf(stdout, "demo organizer: %s (password from BOXOFFICE_ORGANIZER_PASSWORD)\n", u.Email)
		return u, nil
	}
	var secret [9]byte
	_, _ = rand.Read(secret[:])
	password := hex.EncodeToString(secret[:])
	u, err := db.CreateUser(ctx, store.Registration{Name: "Demo Organizer", Email: demoOrganizerEmail, Password: password}, store.RoleOrganizer)
	if err == nil {
		fmt.Fprintf(stdout, "demo organizer: %s  password: %s  (shown this once)\n", demoOrganizerEmail, password)
		return u, nil
	}
	if !errors.Is(err, store.ErrDuplicate) {
		return nil, fmt.Errorf("demo organizer: %w", err)
	}
	fmt.Fprintf(stdout, "demo organizer: %s exists (its password was shown when it was made)\n", demoOrganizerEmail)
	return db.UserByEmail(ctx, demoOrganizerEmail)
}
