package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// A sign-in costs one bcrypt comparison whether or not the email has an
// account, so timing cannot tell which emails are registered.
func TestAuthenticateComparesOnceForKnownAndUnknownEmails(t *testing.T) {
	t.Parallel()
	db := storetest.DB(t)
	checks := store.CountPasswordChecks(db)
	fan := storetest.Fan(t, db)
	ctx := context.Background()

	for _, email := range []string{fan.Email, store.NewID("nobody") + "@example.com"} {
		before := checks.Load()
		_, err := db.Authenticate(ctx, email, "not-the-password")
		require.ErrorIs(t, err, store.ErrBadCredentials)
		require.Equal(t, int64(1), checks.Load()-before, "comparisons for %s", email)
	}
	before := checks.Load()
	_, err := db.Authenticate(ctx, fan.Email, "fan-password")
	require.NoError(t, err)
	require.Equal(t, int64(1), checks.Load()-before)
}

// Names refuse the bidirectional controls that make text display as something
// else (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C); other letters of
// right-to-left scripts stay welcome.
func TestNamesRefuseBidiControls(t *testing.T) {
	t.Parallel()
	db := storetest.DB(t)
	org := storetest.Organizer(t, db)
	ctx := context.Background()
	controls := []rune{'\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069', '\u200E', '\u200F', '\u061C'}
	for _, r := range controls {
		name := "Ann" + string(r) + "nnA"
		_, err := db.CreateUser(ctx, store.Registration{Name: name, Email: store.NewID("bidi") + "@example.com", Password: "password123"}, store.RoleFan)
		requireInvalid(t, err, "name", "user name with %U", r)

		for _, field := range []string{"name", "venue", "zones[0].name"} {
			_, err := db.CreateEvent(ctx, bidiEvent(field, name), org.ID)
			requireInvalid(t, err, field, "event %s with %U", field, r)
		}
	}
	_, err := db.CreateUser(ctx, store.Registration{Name: "سارة", Email: store.NewID("rtl") + "@example.com", Password: "password123"}, store.RoleFan)
	require.NoError(t, err)
	_, err = db.CreateEvent(ctx, bidiEvent("name", "حفلة"), org.ID)
	require.NoError(t, err)
}

// A taken email or event id says which, so the API can answer email_taken or
// event_exists without guessing; either is still ErrDuplicate.
func TestDuplicateNamesTheField(t *testing.T) {
	t.Parallel()
	db := storetest.DB(t)
	ctx := context.Background()
	fan := storetest.Fan(t, db)
	_, err := db.CreateUser(ctx, store.Registration{Name: "Again", Email: strings.ToUpper(fan.Email), Password: "password123"}, store.RoleFan)
	requireDuplicate(t, err, "email")

	org := storetest.Organizer(t, db)
	n := bidiEvent("name", "Show")
	_, err = db.CreateEvent(ctx, n, org.ID)
	require.NoError(t, err)
	_, err = db.CreateEvent(ctx, n, org.ID)
	requireDuplicate(t, err, "id")
}

func requireDuplicate(t *testing.T, err error, field string) {
	t.Helper()
	require.ErrorIs(t, err, store.ErrDuplicate)
	var dup *store.DuplicateError
	require.ErrorAs(t, err, &dup)
	require.Equal(t, field, dup.Field, "%v", err)
}

func requireInvalid(t *testing.T, err error, field, format string, args ...any) {
	t.Helper()
	what := fmt.Sprintf(format, args...)
	var ve *store.ValidationError
	require.True(t, errors.As(err, &ve), "%s: got %v", what, err)
	require.Equal(t, field, ve.Field, what)
}

// bidiEvent is a valid new event with text in one field.
func bidiEvent(field, text string) store.NewEvent {
	name, venue, zone := "Show", "Hall", "Floor"
	switch field {
	case "name":
		name = text
	case "venue":
		venue = text
	default:
		zone = text
	}
	starts, opens := time.Now().Add(48*time.Hour), time.Now().Add(24*time.Hour)
	capacity, price := 10, int64(1000)
	n := store.NewEvent{ID: store.NewID("ev")}
	n.Name, n.Venue, n.StartsAt, n.SaleOpensAt = &name, &venue, &starts, &opens
	n.Zones = []store.NewZone{{ID: "GA", Name: zone, Kind: inventory.Pool, Capacity: &capacity, PriceCents: &price}}
	return n
}
