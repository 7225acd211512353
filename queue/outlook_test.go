package queue_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/queue"
)

func TestOutlook(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		supply   queue.Supply
		position int64
		want     queue.Outlook
	}{
		{name: "plenty", supply: queue.Supply{Available: 1000}, position: 10, want: "good"},
		{name: "near the end", supply: queue.Supply{Available: 1000}, position: 450, want: "uncertain"},
		{name: "beyond what is left", supply: queue.Supply{Available: 1000}, position: 600, want: "unlikely"},
		{name: "held may come back", supply: queue.Supply{Available: 100, Held: 1000}, position: 100, want: "uncertain"},
		{name: "all held", supply: queue.Supply{Held: 10}, position: 1, want: "unlikely"},
		{name: "shoppers ahead count", supply: queue.Supply{Available: 100, Shoppers: 50}, position: 1, want: "unlikely"},
		{name: "measured parties of four", supply: queue.Supply{Available: 400, Booked: 400, Admitted: 100}, position: 150, want: "unlikely"},
		{name: "sold out", supply: queue.Supply{Booked: 10}, position: 1, want: "unlikely"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.supply.Outlook(tt.position))
		})
	}
	require.True(t, queue.Supply{Booked: 5}.SoldOut())
	require.True(t, queue.Supply{Held: 1}.SoldOut(), "nothing on sale while everything is held")
	require.False(t, queue.Supply{Available: 1}.SoldOut())
}

// The arithmetic of a place, which realtime runs once per live client per step.
func TestPositionAndETA(t *testing.T) {
	t.Parallel()
	pos, ahead := queue.PositionOf(47, 5)
	require.Equal(t, [2]int64{42, 41}, [2]int64{pos, ahead})
	pos, ahead = queue.PositionOf(3, 5)
	require.Equal(t, [2]int64{1, 0}, [2]int64{pos, ahead}, "reached: next")
	eta, ok := queue.ETA(41, 2)
	require.True(t, ok)
	require.Equal(t, int64(21), eta, "rounded up")
	_, ok = queue.ETA(41, 0)
	require.False(t, ok, "no rate measured yet")
	eta, _ = queue.ETA(41, 1e-30)
	require.Equal(t, int64(queue.MaxETA), eta)

	b := queue.Bounds{GoodUntil: 10, UnlikelyFrom: 20}
	require.Equal(t, queue.OutlookGood, b.Outlook(10))
	require.Equal(t, queue.OutlookUncertain, b.Outlook(11))
	require.Equal(t, queue.OutlookUnlikely, b.Outlook(20))
	// Two tickets a fan: 40 fans leave a fifth of 100; 100 fans take all 200.
	require.Equal(t, queue.Bounds{GoodUntil: 40, UnlikelyFrom: 101}, queue.Supply{Available: 100, Held: 100}.Bounds())
}
