package queue

import (
	"errors"
	"fmt"
	"strconv"
)

// errReply is a script reply that is not what the script promises.
var errReply = errors.New("malformed script reply")

// reply reads a script's reply. The first element that is missing or of the
// wrong type makes err, and reads after it return zero values: a malformed reply
// is an error for the caller, never a panic.
type reply struct {
	v   []any
	err error
}

func (r *reply) fail(i int) error {
	if r.err == nil {
		r.err = fmt.Errorf("%w: element %d of %v", errReply, i, r.v)
	}
	return r.err
}

func (r *reply) at(i int) any {
	if i >= len(r.v) {
		r.fail(i)
		return nil
	}
	return r.v[i]
}

// str is a string element.
func (r *reply) str(i int) string {
	s, ok := r.at(i).(string)
	if !ok {
		r.fail(i)
	}
	return s
}

// optStr is a string element, or "" where the script answered false (nil).
func (r *reply) optStr(i int) string {
	if i >= len(r.v) || r.v[i] == nil {
		return ""
	}
	return r.str(i)
}

// num is an integer element.
func (r *reply) num(i int) int64 {
	n, ok := r.at(i).(int64)
	if !ok {
		r.fail(i)
	}
	return n
}

// numText is a number Redis stored as a string (such as HGET's), or 0 where the
// script answered false.
func (r *reply) numText(i int) int64 {
	s := r.optStr(i)
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		r.fail(i)
	}
	return n
}

// strs is a list of strings.
func (r *reply) strs(i int) []string {
	list, ok := r.at(i).([]any)
	if !ok {
		r.fail(i)
		return nil
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			r.fail(i)
			return nil
		}
		out = append(out, s)
	}
	return out
}
