package realtime

import (
	"bufio"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A client may send its first frame in the same packet as the handshake, so
// that net/http has read it already: Accept must hand those bytes on.
func TestAcceptKeepsBytesSentWithTheHandshake(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{})
	ev := newEventID(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.srv.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(wait)))

	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	handshake := "GET /?event=" + ev + "&user=u1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	_, err = conn.Write(append([]byte(handshake), clientFrame(`{"type":"ping"}`)...))
	require.NoError(t, err)

	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	header := make([]byte, 2)
	_, err = io.ReadFull(br, header)
	require.NoError(t, err)
	require.Equal(t, byte(0x81), header[0], "a final text frame")
	payload := make([]byte, header[1])
	_, err = io.ReadFull(br, payload)
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"pong"}`, string(payload))
}

// clientFrame is a final, masked text frame with a short payload.
func clientFrame(payload string) []byte {
	mask := []byte{1, 2, 3, 4}
	f := append([]byte{0x81, 0x80 | byte(len(payload))}, mask...)
	for i := range len(payload) {
		f = append(f, payload[i]^mask[i%4])
	}
	return f
}
