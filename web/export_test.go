package web

// NewEventBody is POST /events's body as the server reads it, for tests that
// must read a body exactly as the server does.
type NewEventBody = newEvent

// StatusOf is the status the API answers err with.
func StatusOf(err error) int {
	e, _ := toAPIError(err)
	return e.Status
}
