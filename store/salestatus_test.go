package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/store"
)

// The one rule behind sale_status, in the API and on the live feed alike.
func TestSaleStatusAt(t *testing.T) {
	t.Parallel()
	sale := time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC)
	e := &store.Event{LobbyOpensAt: sale.Add(-time.Hour), SaleOpensAt: sale, StartsAt: sale.Add(24 * time.Hour)}
	tests := []struct {
		name      string
		at        time.Time
		available int
		want      string
	}{
		{name: "before the lobby", at: sale.Add(-2 * time.Hour), available: 10, want: store.SaleScheduled},
		{name: "lobby", at: sale.Add(-time.Minute), available: 10, want: store.SaleLobby},
		{name: "lobby of a sale sold out ahead", at: sale.Add(-time.Minute), available: 0, want: store.SaleLobby},
		{name: "open", at: sale, available: 1, want: store.SaleOpen},
		{name: "nothing on sale, everything held", at: sale.Add(time.Minute), available: 0, want: store.SaleSoldOut},
		{name: "the show has started", at: sale.Add(24 * time.Hour), available: 10, want: store.SaleClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, e.SaleStatusAt(tt.at, tt.available))
		})
	}
}
