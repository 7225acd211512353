package e2e

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// proxy stands between a browser and the server so a test can cut every
// connection at once, as a train entering a tunnel would.
type proxy struct {
	l     net.Listener
	mu    sync.Mutex
	conns map[net.Conn]*atomic.Bool // open connections, and whether each went silent
	done  chan struct{}             // closed when the test ends
}

func newProxy(t *testing.T) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{l: l, conns: map[net.Conn]*atomic.Bool{}, done: make(chan struct{})}
	target := env.base[len("http://"):]
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.pipe(c, target)
		}
	}()
	t.Cleanup(func() {
		close(p.done)
		l.Close()
		p.cut()
	})
	return p
}

func (p *proxy) url() string { return "http://" + p.l.Addr().String() }

func (p *proxy) pipe(c net.Conn, target string) {
	s, err := net.Dial("tcp", target)
	if err != nil {
		c.Close()
		return
	}
	silent := &atomic.Bool{}
	p.mu.Lock()
	p.conns[c], p.conns[s] = silent, silent
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(s, blackHole{c, silent}); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, blackHole{s, silent}); done <- struct{}{} }()
	<-done
	if silent.Load() {
		<-p.done // a silent link tells neither end that the other is gone
	}
	c.Close()
	s.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

// blackHole reads a connection and, once silent, swallows what it reads.
type blackHole struct {
	c      net.Conn
	silent *atomic.Bool
}

func (b blackHole) Read(p []byte) (int, error) {
	for {
		n, err := b.c.Read(p)
		if err != nil || !b.silent.Load() {
			return n, err
		}
	}
}

// freeze makes every open connection a black hole that never closes, as a
// phone losing its network mid-connection does; new ones work again.
func (p *proxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, silent := range p.conns {
		silent.Store(true)
	}
}

// cut drops every open connection; new ones are accepted again at once.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}
