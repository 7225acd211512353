package queue

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A reply that is not what a script promises is an error, never a panic.
func TestMalformedRepliesAreErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		read func(r *reply)
		v    []any
	}{
		{name: "too short", v: []any{"open"}, read: func(r *reply) { r.num(1) }},
		{name: "number as text", v: []any{"open", "7"}, read: func(r *reply) { r.num(1) }},
		{name: "text as number", v: []any{int64(3)}, read: func(r *reply) { r.str(0) }},
		{name: "list of numbers", v: []any{[]any{int64(1)}}, read: func(r *reply) { r.strs(0) }},
		{name: "not a list", v: []any{"u1"}, read: func(r *reply) { r.strs(0) }},
		{name: "number text not a number", v: []any{"x"}, read: func(r *reply) { r.numText(0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reply{v: tt.v}
			require.NotPanics(t, func() { tt.read(&r) })
			require.ErrorIs(t, r.err, errReply)
		})
	}
	r := reply{v: []any{"open", nil, "12", []any{"a", "b"}}}
	require.Equal(t, "open", r.str(0))
	require.Equal(t, "", r.optStr(1), "false from Lua is nil")
	require.Equal(t, int64(12), r.numText(2))
	require.Equal(t, []string{"a", "b"}, r.strs(3))
	require.NoError(t, r.err)
}
