package realtime

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"

	"github.com/coder/websocket"
)

// bufferSize is each way's connection buffer. A live client sends only pings,
// and nearly every message to it (a queue.update is ~150 bytes) fits in one
// write; larger ones bypass the buffer.
const bufferSize = 512

// Accept is websocket.Accept with 512-byte connection buffers instead of
// net/http's 4 KiB each way. The saving is real only when the HTTP handler
// returns while the connection lives on (see Serve): a running handler keeps
// net/http's own buffers alive.
func Accept(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions) (*websocket.Conn, error) {
	return websocket.Accept(smallBuffers{w}, r, opts)
}

// smallBuffers hands websocket.Accept a hijacked connection with small buffers.
type smallBuffers struct {
	http.ResponseWriter
}

// Unwrap lets http.ResponseController and websocket reach the wrapped writer.
func (s smallBuffers) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil { // the 101 response, if still buffered
		_ = conn.Close()
		return nil, nil, err
	}
	// Bytes the client sent right after the handshake may sit in net/http's
	// buffer already. websocket.Accept keeps only what is buffered in the
	// reader it gets (it resets the reader onto conn), so buffer them there.
	early := brw.Reader.Buffered()
	var r io.Reader = conn
	if early > 0 {
		b, _ := brw.Reader.Peek(early)
		r = io.MultiReader(bytes.NewReader(bytes.Clone(b)), conn)
	}
	br := bufio.NewReaderSize(r, max(bufferSize, early))
	if _, err := br.Peek(early); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, bufferSize)), nil
}
