package door_test

import (
	"image"
	"image/color"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/door"
)

const secret = "a-secret-of-at-least-thirty-two-chars"

func TestCodeShape(t *testing.T) {
	t.Parallel()
	c := door.NewCodes(secret)
	code := c.Code("ev_1", "bkg_1", 9901)
	// 16 base32 characters: 80 bits of MAC.
	require.Regexp(t, `^BX1-9901-[A-Z2-7]{16}$`, code)
	require.Equal(t, code, c.Code("ev_1", "bkg_1", 9901), "the same ticket has one code")
	require.True(t, c.Signs(code, "ev_1", "bkg_1", 9901))
	require.True(t, c.Signs("  "+strings.ToLower(code)+"\n", "ev_1", "bkg_1", 9901), "typed codes forgive case and spaces")
	id, ok := door.ParseCode(code)
	require.True(t, ok)
	require.EqualValues(t, 9901, id)
}

func TestCodeSignsOneTicketOfOneBookingOfOneEvent(t *testing.T) {
	t.Parallel()
	c := door.NewCodes(secret)
	code := c.Code("ev_1", "bkg_1", 9901)
	require.False(t, c.Signs(code, "ev_2", "bkg_1", 9901), "another event")
	require.False(t, c.Signs(code, "ev_1", "bkg_2", 9901), "another booking of the ticket")
	require.False(t, c.Signs(code, "ev_1", "bkg_1", 9902), "another ticket")
	require.False(t, door.NewCodes("another-secret-of-thirty-two-chars!!").Signs(code, "ev_1", "bkg_1", 9901), "another secret")
	require.NotEqual(t, code, c.Code("ev_1\x00bkg", "1", 9901), "the parts cannot be shifted")
}

func TestParseCodeRefusesWhatIsNotACode(t *testing.T) {
	t.Parallel()
	for _, give := range []string{"", "BX1-", "BX1-12", "BX1-12-", "BX2-12-AAAAAAAAAAAAAAAA", "BX1-0-AAAAAAAAAAAAAAAA",
		"BX1-012-AAAAAAAAAAAAAAAA", "BX1--12-AAAAAAAAAAAAAAAA", "BX1-+12-AAAAAAAAAAAAAAAA", "BX1-12-AAAAAAAAAAAAAAA",
		"BX1-12-AAAAAAAAAAAAAAAAA", "BX1-99999999999999999999-AAAAAAAAAAAAAAAA", "BX1-1\x002-AAAAAAAAAAAAAAAA"} {
		_, ok := door.ParseCode(give)
		require.False(t, ok, "%q", give)
	}
}

// The QR code the pages draw reads back as the code: the SVG path is drawn
// into an image and decoded by ZXing, as a phone's scanner would.
func TestQRDecodesToTheCode(t *testing.T) {
	t.Parallel()
	c := door.NewCodes(secret)
	for _, id := range []int64{1, 9901, 1 << 40} {
		code := c.Code("boxoffice-live", "bkg_abc", id)
		q, err := door.QROf(code)
		require.NoError(t, err)
		require.Less(t, len(q.Path), 3000, "a ticket's QR path stays small")
		img := rasterize(t, q, 6)
		bmp, err := gozxing.NewBinaryBitmapFromImage(img)
		require.NoError(t, err)
		res, err := gozxingqr.NewQRCodeReader().Decode(bmp, nil)
		require.NoError(t, err)
		require.Equal(t, code, res.GetText())
	}
}

var pathRun = regexp.MustCompile(`^M(\d+) (\d+)h(\d+)v1h-(\d+)z`)

// rasterize draws the path's runs, scale pixels a module, on white.
func rasterize(t *testing.T, q door.QR, scale int) image.Image {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, q.Size*scale, q.Size*scale))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for rest := q.Path; rest != ""; {
		m := pathRun.FindStringSubmatch(rest)
		require.NotNil(t, m, "path at %q", rest)
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		n, _ := strconv.Atoi(m[3])
		require.Equal(t, m[3], m[4])
		require.LessOrEqual(t, x+n, q.Size-4, "runs stay inside the quiet zone")
		for px := x * scale; px < (x+n)*scale; px++ {
			for py := y * scale; py < (y+1)*scale; py++ {
				img.SetGray(px, py, color.Gray{})
			}
		}
		rest = rest[len(m[0]):]
	}
	return img
}
