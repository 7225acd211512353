package web

// NewEventBody is POST /events's body as the server reads it, for tests that
// must read a body exactly as the server does.
type NewEventBody = newEvent
