package inventory_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/inventory"
)

func TestHoldBest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rows    []string // nearest the stage first; '0' free, '1' held, '2' booked
		qty     int
		want    []string
		wantErr error
	}{
		{name: "empty zone: front row, from the aisle", rows: []string{"00000", "00000"}, qty: 2, want: []string{"1A", "1B"}},
		{name: "front row sold: the next one", rows: []string{"22222", "00000"}, qty: 2, want: []string{"2A", "2B"}},
		{name: "exact gap in the front row", rows: []string{"20021", "00000"}, qty: 2, want: []string{"1B", "1C"}},
		{name: "gap one too wide would strand a seat: next row", rows: []string{"20001", "00000"}, qty: 2, want: []string{"2A", "2B"}},
		{name: "gap one too wide at the row's end: next row", rows: []string{"22000", "00000"}, qty: 2, want: []string{"2A", "2B"}},
		{name: "wide gap: flush against the taken seat", rows: []string{"10000", "00000"}, qty: 2, want: []string{"1B", "1C"}},
		{name: "a later gap in the same row fits exactly", rows: []string{"000200", "000000"}, qty: 2, want: []string{"1E", "1F"}},
		{name: "exact gap further back beats stranding in front", rows: []string{"00001", "10001", "0000"}, qty: 3, want: []string{"2B", "2C", "2D"}},
		{name: "every choice strands a seat: the first fit", rows: []string{"20001", "10002"}, qty: 2, want: []string{"1B", "1C"}},
		{name: "one seat: a lone seat first", rows: []string{"00100", "10111"}, qty: 1, want: []string{"2B"}},
		{name: "one seat: not beside a lone seat", rows: []string{"001000"}, qty: 1, want: []string{"1D"}},
		{name: "whole row", rows: []string{"2222", "0000"}, qty: 4, want: []string{"2A", "2B", "2C", "2D"}},
		{name: "enough seats but never together: refused", rows: []string{"01010", "10101"}, qty: 2, wantErr: inventory.ErrNotEnough},
		{name: "wider than any row: refused", rows: []string{"000", "000"}, qty: 4, wantErr: inventory.ErrNotEnough},
		{name: "fewer left than asked", rows: []string{"22220"}, qty: 2, wantErr: inventory.ErrNotEnough},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			ctx := context.Background()
			f.load(t, seated("VIP", tt.rows...))
			f.admit(t, "ann")
			before := f.counts(t, "VIP")

			h, err := f.inv.HoldBest(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: "h1", Quantity: tt.qty})
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.Equal(t, before, f.counts(t, "VIP"), "a refusal holds nothing")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, h.Seats)
			require.Equal(t, tt.qty, h.Quantity)
			seats := f.seats(t, "VIP")
			for _, s := range tt.want {
				require.Equal(t, inventory.Reserved, seats[s], s)
			}
			require.Equal(t, before.Available-tt.qty, f.counts(t, "VIP").Available)

			// The hold is an ordinary one: releasing it gives the seats back.
			require.NoError(t, f.inv.Release(ctx, f.ev, "h1"))
			require.Equal(t, before, f.counts(t, "VIP"))
		})
	}
}

// Fans asking for pairs one after another fill a row without leaving lone seats.
func TestHoldBestFillsRowsWithoutLoneSeats(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.load(t, seated("VIP", "00000", "0000"))
	f.admit(t, "ann")
	var got [][]string
	for _, h := range []string{"h1", "h2", "h3", "h4"} {
		hold, err := f.inv.HoldBest(ctx, inventory.HoldRequest{EventID: f.ev, ZoneID: "VIP", UserID: "ann", HoldID: h, Quantity: 2})
		require.NoError(t, err)
		got = append(got, hold.Seats)
	}
	// After 1A-1B, three seats remain in row 1: a pair there would strand 1E, so
	// the pair goes to row 2 while row 2 can take it whole.
	require.Equal(t, [][]string{{"1A", "1B"}, {"2A", "2B"}, {"2C", "2D"}, {"1C", "1D"}}, got)
}
