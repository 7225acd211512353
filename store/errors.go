package store

import (
	"fmt"
	"strings"
	"unicode"
)

// ValidationError names a field whose value is not acceptable. The web layer
// answers it with 422 and the field in the error details.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return fmt.Sprintf("%s %s", e.Field, e.Message) }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// printable refuses control characters (PostgreSQL cannot store NUL in text, and
// no name needs a tab or a bell) and the bidirectional controls that let a name
// display as something else: an override can make "Organizer\u202Eresu" read as
// a different name in every page and ticket that shows it.
func printable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || bidiControl(r) })
}

// bidiControl reports the embeddings, overrides and isolates (U+202A–U+202E,
// U+2066–U+2069) and the direction marks (U+200E, U+200F, U+061C).
func bidiControl(r rune) bool {
	switch {
	case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
		return true
	case r == '\u200E', r == '\u200F', r == '\u061C':
		return true
	}
	return false
}
