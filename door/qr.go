package door

import (
	"fmt"
	"strconv"
	"strings"

	"rsc.io/qr"
)

// quietZone is the white border a scanner needs around a QR code, in modules.
const quietZone = 4

// QR is a QR code drawn as one SVG path: each dark run of a row a rectangle,
// on a square of Size modules (its quiet zone included). A page draws it as
// <svg viewBox="0 0 Size Size"><path d="Path"/></svg>.
type QR struct {
	Size int
	Path string
}

// QROf encodes text as a QR code with error correction level M (15% of the
// code may be lost to a smudge or a crack in a phone's screen).
func QROf(text string) (QR, error) {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return QR{}, fmt.Errorf("qr code of %q: %w", text, err)
	}
	var b strings.Builder
	for y := range code.Size {
		for x := 0; x < code.Size; {
			if !code.Black(x, y) {
				x++
				continue
			}
			start := x
			for x < code.Size && code.Black(x, y) {
				x++
			}
			n := strconv.Itoa(x - start)
			b.WriteString("M" + strconv.Itoa(start+quietZone) + " " + strconv.Itoa(y+quietZone) + "h" + n + "v1h-" + n + "z")
		}
	}
	return QR{Size: code.Size + 2*quietZone, Path: b.String()}, nil
}
