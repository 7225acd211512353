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
// no name needs a tab or a bell).
func printable(s string) bool {
	return !strings.ContainsFunc(s, unicode.IsControl)
}
