// Package door lets ticket holders in at an event's doors: each booked
// ticket's signed code and its QR code, and the check-in that accepts a
// code once.
package door

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"strconv"
	"strings"
)

// codePrefix names the code's format, so that a later one can be told apart.
const codePrefix = "BX1-"

// macLen is the MAC's length in bytes: 80 bits, 16 base32 characters. A
// forger must guess it, and each guess costs a request to the door.
const macLen = 10

// MaxCodeLen bounds a code worth looking at; anything longer is not one.
const MaxCodeLen = 64

// b32 has no padding: 10 bytes are exactly 16 characters.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Codes signs and checks ticket codes with a key derived from the
// deployment's secret, the same on every replica.
type Codes struct {
	key []byte
}

// NewCodes keys codes with secret (BOXOFFICE_SECRET).
func NewCodes(secret string) *Codes {
	// A key for this purpose only: the secret signs session tokens too, and
	// a code must never verify as anything else.
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("boxoffice ticket code v1"))
	return &Codes{key: m.Sum(nil)}
}

// Code is the code of a ticket sold by a booking: BX1-<ticket id>-<MAC>. It
// is upper case letters, digits and dashes only, which a QR code holds in its
// compact alphanumeric mode. The MAC covers the booking as well as the event
// and ticket: a ticket put back on sale by a cancellation and sold again gets
// a new code, and the old one stops working.
func (c *Codes) Code(eventID, bookingID string, ticketID int64) string {
	id := strconv.FormatInt(ticketID, 10)
	return codePrefix + id + "-" + c.mac(eventID, bookingID, id)
}

func (c *Codes) mac(eventID, bookingID, ticketID string) string {
	m := hmac.New(sha256.New, c.key)
	// NUL separates the parts: no stored id can contain one.
	m.Write([]byte(eventID + "\x00" + bookingID + "\x00" + ticketID))
	return b32.EncodeToString(m.Sum(nil)[:macLen])
}

// Signs reports whether code is the code of the booking's ticket in the event.
func (c *Codes) Signs(code, eventID, bookingID string, ticketID int64) bool {
	return hmac.Equal([]byte(normalize(code)), []byte(c.Code(eventID, bookingID, ticketID)))
}

// ParseCode reads the ticket a code names. It says nothing of whether the
// code is genuine: Signs does.
func ParseCode(code string) (ticketID int64, ok bool) {
	code = normalize(code)
	rest, found := strings.CutPrefix(code, codePrefix)
	if !found || len(code) > MaxCodeLen {
		return 0, false
	}
	id, mac, found := strings.Cut(rest, "-")
	if !found || len(mac) != b32.EncodedLen(macLen) || id == "" || id[0] == '0' || id[0] == '+' {
		return 0, false
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// normalize forgives what a person typing a code does: spaces around it and
// lower case letters.
func normalize(code string) string {
	return strings.ToUpper(strings.TrimSpace(code))
}
