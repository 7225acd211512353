package rehearse

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// liveRoute names the live WebSocket in the report.
const liveRoute = "GET /api/v1/events/{id}/live"

// liveMsg is any live message (README, "Live messages"); each type fills some fields.
type liveMsg struct {
	Type             string            `json:"type"`
	Status           string            `json:"status"`
	Position         *int64            `json:"position"`
	TicketsLeft      int64             `json:"tickets_left"`
	SessionID        string            `json:"session_id"`
	ZoneID           string            `json:"zone_id"`
	AvailableTickets int64             `json:"available_tickets"`
	Seats            map[string]string `json:"seats"`
	SaleStatus       string            `json:"sale_status"`
}

// socket is one page's live connection: a fan's, or the tool's own anonymous
// watcher. It reconnects by itself, as the fan page does, until closed, and
// keeps what the feed has said so far for the fan to act on.
type socket struct {
	r     *run
	token string // "" for the watcher
	obs   int    // observer index for the delays, or -1
	http  *http.Client

	mu        sync.Mutex
	conn      *websocket.Conn
	closed    bool
	snapshot  bool   // reading a snapshot: everything up to its sale.update
	session   string // the shopping session the feed admitted, until it ends
	avail     map[string]int64
	sale      string
	position  *int64
	inLine    bool // the feed last said the fan waits in line
	skipQueue bool // the next queue.update answers a join, not a step
	rejoin    bool // reconnected: the fan should make sure of its place
	changed   chan struct{}
}

func (r *run) newSocket(token string, obs int, hc *http.Client) *socket {
	return &socket{r: r, token: token, obs: obs, http: hc, avail: map[string]int64{}, changed: make(chan struct{}, 1)}
}

// open connects, retrying while the server refuses or is away, and then reads
// in the background until close.
func (s *socket) open(ctx context.Context) error {
	conn, err := s.dial(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.conn = conn
	s.mu.Unlock()
	s.r.readers.Add(1)
	go func() {
		defer s.r.readers.Done()
		s.read(conn)
	}()
	return nil
}

func (s *socket) dial(ctx context.Context) (*websocket.Conn, error) {
	u := s.r.cfg.URL + "/api/v1/events/" + url.PathEscape(s.r.cfg.EventID) + "/live"
	if s.token != "" {
		u += "?token=" + url.QueryEscape(s.token)
	}
	backoff := 100 * time.Millisecond
	for {
		start := time.Now()
		s.mu.Lock()
		s.snapshot = true
		s.mu.Unlock()
		conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: s.http})
		if ctx.Err() != nil {
			if conn != nil {
				conn.CloseNow()
			}
			return nil, ctx.Err()
		}
		took := time.Since(start)
		if err == nil {
			conn.SetReadLimit(4 << 20) // a seat.update may name every seat of a big zone
			s.r.rec.exchange(liveRoute, took, http.StatusSwitchingProtocols, "")
			s.r.rec.connected()
			return conn, nil
		}
		wait := backoff
		switch {
		case resp != nil:
			code := errorCode(resp)
			s.r.rec.exchange(liveRoute, took, resp.StatusCode, code)
			if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden ||
				resp.StatusCode == http.StatusUnauthorized {
				return nil, &apiError{route: liveRoute, status: resp.StatusCode, code: code}
			}
			if ra := retryAfter(resp); ra > 0 {
				wait = ra
			}
		default:
			s.r.rec.exchange(liveRoute, took, 0, "network")
		}
		backoff = min(backoff*2, 2*time.Second)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

func errorCode(resp *http.Response) string {
	var env struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if resp.Body != nil {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if json.Unmarshal(data, &env) == nil && env.Error.Code != "" {
			return env.Error.Code
		}
	}
	return statusCode(resp.StatusCode)
}

// read takes messages until the connection ends; a connection the fan did not
// close is opened again, as a page reconnects, and the fan told to make sure
// of its place.
func (s *socket) read(conn *websocket.Conn) {
	for {
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				break
			}
			at := s.r.since()
			var m liveMsg
			if json.Unmarshal(data, &m) != nil {
				s.r.rec.message("malformed")
				continue
			}
			s.handle(at, &m)
		}
		conn.CloseNow()
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return
		}
		s.r.rec.reconnected()
		var err error
		conn, err = s.dial(s.r.fansCtx)
		s.mu.Lock()
		if err != nil || s.closed {
			s.closed = true
			s.mu.Unlock()
			if conn != nil {
				conn.CloseNow()
			}
			s.notify()
			return
		}
		s.conn, s.rejoin = conn, true
		s.mu.Unlock()
		s.notify()
	}
}

// close ends the connection as a closed tab does.
func (s *socket) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conn := s.conn
	s.mu.Unlock()
	if conn != nil {
		conn.CloseNow() // the reader sees it and stops
	}
}

func (s *socket) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *socket) handle(at time.Duration, m *liveMsg) {
	r := s.r
	r.rec.message(m.Type)
	s.mu.Lock()
	snap := s.snapshot
	if m.Type == "sale.update" {
		s.snapshot = false // the snapshot's last message
	}
	switch m.Type {
	case "queue.update":
		prev := s.position
		s.position = m.Position
		s.inLine = m.Status == "lobby" || m.Status == "waiting" || m.Status == "sold_out"
		skip := s.skipQueue
		s.skipQueue = false
		// A step moves a fan who already had a position; the first answer to a
		// join, the numbering of the lobby and a snapshot are no steps.
		if !snap && !skip && s.obs >= 0 && prev != nil && m.Position != nil && *prev != *m.Position {
			r.delays.spread(s.obs, delayKey{typ: "queue.update", name: m.Status, value: m.TicketsLeft}, at)
		}
	case "session.admitted":
		s.session, s.inLine = m.SessionID, false
	case "session.expired":
		if m.SessionID == s.session || s.session == "" {
			s.session = ""
		}
		s.inLine = false
	case "availability.update":
		prev, had := s.avail[m.ZoneID]
		s.avail[m.ZoneID] = m.AvailableTickets
		// A fan in line gets no zone changes; the counts that come while the
		// feed still says so are the admission's catch-up (every zone's
		// latest, some of them old), not a step reaching this socket.
		if !snap && !s.inLine && s.obs >= 0 && had && prev != m.AvailableTickets {
			r.delays.spread(s.obs, delayKey{typ: "availability.update", name: m.ZoneID, value: m.AvailableTickets}, at)
		}
		if s.token == "" {
			r.watched(at, s.avail)
		}
	case "seat.update":
		if !snap && s.obs >= 0 {
			r.delays.seats(s.obs, m.ZoneID, m.Seats, at)
		}
	case "sale.update":
		s.sale = m.SaleStatus
		if s.token == "" {
			r.saleStatus(at, m.SaleStatus)
		}
	}
	s.mu.Unlock()
	s.notify()
}

// view is what the page shows now; a reconnection (rejoin) is told once.
type view struct {
	session, sale  string
	avail          map[string]int64
	rejoin, closed bool
}

func (s *socket) view() view {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := view{session: s.session, sale: s.sale, rejoin: s.rejoin, closed: s.closed,
		avail: make(map[string]int64, len(s.avail))}
	for z, n := range s.avail {
		v.avail[z] = n
	}
	s.rejoin = false
	return v
}

// joining marks the next queue.update as the answer to a join.
func (s *socket) joining() {
	s.mu.Lock()
	s.skipQueue = true
	s.mu.Unlock()
}

// wait blocks until the feed says something new, the run stops the fan, or
// the sale is over for good.
func (s *socket) wait(ctx context.Context, over <-chan struct{}) error {
	select {
	case <-s.changed:
		return nil
	case <-over:
		return errSaleOver
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitAtMost is wait, for at most d.
func (s *socket) waitAtMost(ctx context.Context, over <-chan struct{}, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.changed:
	case <-t.C:
	case <-over:
		return errSaleOver
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

var errSaleOver = errors.New("nothing left to buy or hold")

func retryAfter(resp *http.Response) time.Duration {
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}
