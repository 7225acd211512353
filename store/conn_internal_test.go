package store

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// A connection cut in the middle of an answer (PostgreSQL crashed or was
// stopped at once) is the database out of reach, to be retried, not a 500:
// found by TestFaultPostgresRestarted, where pgx said "unexpected EOF".
func TestCutConnectionIsUnavailable(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		fmt.Errorf("book payment pay_x: %w", io.ErrUnexpectedEOF),
		fmt.Errorf("read: %w", io.EOF),
	} {
		require.ErrorIs(t, marked(err), ErrUnavailable, "%v", err)
	}
	require.NotErrorIs(t, marked(errors.New("syntax error")), ErrUnavailable)
}
