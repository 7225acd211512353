package queue_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/queue"
)

// chiSquareLimit is the critical value of a chi-square statistic with df degrees
// of freedom at the upper tail z standard deviations out (Wilson–Hilferty).
func chiSquareLimit(df int, z float64) float64 {
	k := float64(df)
	v := 2 / (9 * k)
	return k * math.Pow(1-v+z*math.Sqrt(v), 3)
}

// worstChiSquare counts each fan's position over many openings and returns the
// largest per-fan chi-square statistic against the uniform distribution.
func worstChiSquare(t *testing.T, fans, openings int, order func(seed string, ids []string) []string) float64 {
	t.Helper()
	ids := make([]string, fans)
	for i := range ids {
		ids[i] = fmt.Sprintf("j_%02d", i)
	}
	counts := make([][]int, fans) // counts[fan][position]
	for i := range counts {
		counts[i] = make([]int, fans)
	}
	index := map[string]int{}
	for i, id := range ids {
		index[id] = i
	}
	var b [32]byte
	for range openings {
		_, _ = rand.Read(b[:])
		for pos, id := range order(hex.EncodeToString(b[:]), slices.Clone(ids)) {
			counts[index[id]][pos]++
		}
	}
	expected := float64(openings) / float64(fans)
	worst := 0.0
	for _, row := range counts {
		chi := 0.0
		for _, c := range row {
			d := float64(c) - expected
			chi += d * d / expected
		}
		worst = max(worst, chi)
	}
	return worst
}

// Over repeated openings, every fan's position is uniform. Each fan's position is
// tested with a chi-square test; with the Bonferroni correction over the fans the
// chance of a false alarm is below one in a million (z = 5.4 is a tail of 3e-8
// per fan, 3e-7 for all ten).
func TestShuffleIsUniform(t *testing.T) {
	t.Parallel()
	const fans, openings = 10, 10000
	limit := chiSquareLimit(fans-1, 5.4)
	worst := worstChiSquare(t, fans, openings, func(seed string, ids []string) []string {
		out, err := queue.Order(seed, ids)
		require.NoError(t, err)
		return out
	})
	require.Less(t, worst, limit, "a fan's position is not uniform")

	// The same test catches a slightly biased shuffle: one that keeps the first
	// fan first one time in twenty more often than chance.
	biased := 0
	worst = worstChiSquare(t, fans, openings, func(seed string, ids []string) []string {
		out, _ := queue.Order(seed, ids)
		if biased++; biased%20 == 0 {
			i := slices.Index(out, "j_00")
			out[0], out[i] = out[i], out[0]
		}
		return out
	})
	require.Greater(t, worst, limit, "the test must be able to fail")
}
