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
