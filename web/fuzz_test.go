package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
	"github.com/boxofficehq/boxoffice/web"
)

// The fuzz targets below send arbitrary bodies to every JSON endpoint and check
// the promises of API.md that hold whatever the input: never a 5xx, always a JSON
// object, 4xx answers in the error envelope, and nothing already stored is lost
// or changed by a refused request. Seeds run as ordinary tests under `make test`;
// fuzz one (with TEST_DATABASE_URL and TEST_REDIS_URL set, as `make test` does) with
//
//	go test -run '^$' -fuzz '^FuzzCreateEvent$' -fuzztime 60s -fuzzminimizetime 1s ./web/
//
// Each input costs a few HTTP round trips and queries, so the default minutes of
// minimizing every new input would eat most of a short run.

// fuzzTicketCap bounds the tickets one input may make: the fuzzer readily turns
// a capacity of 10 into 900000, and a million-row COPY per input would drown the
// search (and `make test` under -race).
const fuzzTicketCap = 2000

// fuzzEnv is one API server shared by every input of a fuzz target (inputs run
// one after another). The server logs to a buffer so a failing input shows the
// server-side error and, for a panic, its stack.
type fuzzEnv struct {
	db  *store.DB
	srv *httptest.Server
	log *logBuffer
}

// newFuzzEnv is an env built once per fuzz target, logging to a buffer.
func newFuzzEnv(tb testing.TB) *fuzzEnv {
	tb.Helper()
	lb := &logBuffer{}
	e := newEnv(tb, func(c *web.Config) { c.Log = slog.New(slog.NewTextHandler(lb, nil)) })
	return &fuzzEnv{db: e.db, srv: e.srv, log: lb}
}

// logBuffer collects the server's log lines between two inputs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// take returns and forgets what was logged so far.
func (l *logBuffer) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.buf.String()
	l.buf.Reset()
	return s
}

// fuzzAnswer is one HTTP answer.
type fuzzAnswer struct {
	Status      int
	ContentType string
	Body        []byte
}

// call sends body as is, with a bearer token when one is given.
func (fe *fuzzEnv) call(t testing.TB, method, path, token string, body []byte) fuzzAnswer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, fe.srv.URL+path, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := fe.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return fuzzAnswer{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: data}
}

// requireSane checks what API.md promises for every answer to any input: no 5xx,
// a JSON object, and for a 4xx the envelope {"error": {"code", "message"}} with a
// code. It returns the decoded body. diagnose, if given, adds to the report of a 5xx
// what the failed request left behind.
func (fe *fuzzEnv) requireSane(t testing.TB, what string, body []byte, a fuzzAnswer, diagnose func() string) map[string]any {
	t.Helper()
	serverLog := fe.log.take()
	if a.Status >= 500 {
		var after string
		if diagnose != nil {
			after = "\nafterwards: " + diagnose()
		}
		t.Fatalf("%s answered %d for body %q\nanswer: %s%s\nserver log:\n%s", what, a.Status, body, a.Body, after, serverLog)
	}
	var m map[string]any
	if err := json.Unmarshal(a.Body, &m); err != nil || m == nil {
		t.Fatalf("%s answered %d with a body that is not a JSON object (%v) for body %q\nanswer: %q\nserver log:\n%s",
			what, a.Status, err, body, a.Body, serverLog)
	}
	require.True(t, strings.HasPrefix(a.ContentType, "application/json"),
		"%s answered Content-Type %q for body %q", what, a.ContentType, body)
	if a.Status >= 400 {
		env, _ := m["error"].(map[string]any)
		require.NotNil(t, env, "%s answered %d without the error envelope for body %q: %s", what, a.Status, body, a.Body)
		code, _ := env["code"].(string)
		require.NotEmpty(t, code, "%s answered %d without an error code for body %q: %s", what, a.Status, body, a.Body)
		_, ok := env["message"].(string)
		require.True(t, ok, "%s answered %d without an error message for body %q: %s", what, a.Status, body, a.Body)
	}
	return m
}

// account is a user made in a target's setup whose sign-in must survive every input.
type account struct {
	email, password string
	user            json.RawMessage
}

func newAccount(tb testing.TB, fe *fuzzEnv, email, password string) account {
	tb.Helper()
	ctx := context.Background()
	if _, err := fe.db.CreateUser(ctx, store.Registration{Name: "Fuzz Fan", Email: email, Password: password}, store.RoleFan); err != nil &&
		!errors.Is(err, store.ErrDuplicate) { // -count=2 runs the setup again on the same database
		tb.Fatal(err)
	}
	a := account{email: email, password: password}
	a.user = a.signIn(tb, fe)
	return a
}

// signIn logs the account in through the API and returns its user object.
func (a account) signIn(tb testing.TB, fe *fuzzEnv) json.RawMessage {
	tb.Helper()
	body, err := json.Marshal(map[string]string{"email": a.email, "password": a.password})
	require.NoError(tb, err)
	r := fe.call(tb, http.MethodPost, "/api/v1/auth/login", "", body)
	require.Equal(tb, http.StatusOK, r.Status, "%s", r.Body)
	var got struct {
		User json.RawMessage `json:"user"`
	}
	require.NoError(tb, json.Unmarshal(r.Body, &got))
	return got.User
}

// requireIntact checks that the account still signs in with its password as the
// same user.
func (a account) requireIntact(t testing.TB, fe *fuzzEnv, body []byte) {
	t.Helper()
	require.JSONEq(t, string(a.user), string(a.signIn(t, fe)), "account %s changed after body %q", a.email, body)
}

func addSeeds(f *testing.F, seeds []string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
}

// Seeds shared by every target: the shapes that are not an object of the right fields.
var malformedSeeds = []string{
	``,
	`null`,
	`[]`,
	`{}`,
	`"a string"`,
	`12345678901234567890123456789`,
	`{"a":`,
	`{} {}`,
	"\xef\xbb\xbf{}",
	strings.Repeat(`{"x":`, 600) + `1` + strings.Repeat(`}`, 600),
	`{"name":` + strings.Repeat(`[`, 20000) + strings.Repeat(`]`, 20000) + `}`,
}

const existingFanEmail = "fuzz-existing-fan@example.com"

func FuzzRegister(f *testing.F) {
	fe := newFuzzEnv(f)
	existing := newAccount(f, fe, existingFanEmail, "existing-password")
	addSeeds(f, malformedSeeds)
	addSeeds(f, []string{
		`{"name":"Fuzz Fan","email":"fuzz.new@example.com","password":"correct-horse"}`,
		`{"name":"Taken","email":"` + existingFanEmail + `","password":"another-password"}`,
		`{"name":"Taken","email":"  FUZZ-EXISTING-FAN@Example.COM ","password":"another-password"}`,
		`{"name":1,"email":true,"password":["x"]}`,
		`{"name":"A","email":"role@example.com","password":"password1","role":"organizer"}`,
		`{"name":"Zoë 🎟️ 東京","email":"zoe@example.com","password":"пароль-пароль"}`,
		`{"name":"a\u0000b","email":"nul-name@example.com","password":"password1"}`,
		`{"name":"Nul","email":"nul\u0000@example.com","password":"password1"}`,
		`{"name":"Nul","email":"nul-pass@example.com","password":"pass\u0000word"}`,
		`{"name":"Long","email":"long@example.com","password":"` + strings.Repeat("p", 73) + `"}`,
		`{"name":"Wide","email":"wide@example.com","password":"` + strings.Repeat("é", 36) + `"}`,
		`{"name":"A","name":"B","email":"dup@example.com","email":"dup2@example.com","password":"password1"}`,
		`{"NAME":"Case","EMAIL":"case@example.com","Password":"password1"}`,
		"{\"name\":\"\xff\xfe\",\"email\":\"bad-utf8@example.com\",\"password\":\"password1\"}",
		`{"name":"\ud800","email":"surrogate@example.com","password":"password1"}`,
		`{"name":1e999,"email":"big@example.com","password":"password1"}`,
		`{"name":"` + strings.Repeat("n", 201) + `","email":"n201@example.com","password":"password1"}`,
		`{"name":"Far","email":"` + strings.Repeat("e", 250) + `@example.com","password":"password1"}`,
		`{"name":"NoDot","email":"a@b","password":"password1"}`,
		`{"name":"Inject","email":"x' OR '1'='1@example.com","password":"password1"}`,
		`{"name":"Obj","email":{"$ne":null},"password":"password1"}`,
		`{"name":"   ","email":"blank@example.com","password":"password1"}`,
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		fe.log.take()
		r := fe.call(t, http.MethodPost, "/api/v1/users", "", body)
		m := fe.requireSane(t, "POST /api/v1/users", body, r, nil)
		if r.Status < 300 {
			require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
			u, _ := m["user"].(map[string]any)
			require.Equal(t, store.RoleFan, u["role"], "a registration made a non-fan: body %q", body)
			require.NotEmpty(t, m["token"])
		}
		existing.requireIntact(t, fe, body)
	})
}

func FuzzLogin(f *testing.F) {
	fe := newFuzzEnv(f)
	existing := newAccount(f, fe, existingFanEmail, "existing-password")
	addSeeds(f, malformedSeeds)
	addSeeds(f, []string{
		`{"email":"` + existingFanEmail + `","password":"existing-password"}`,
		`{"email":"` + existingFanEmail + `","password":"wrong-password"}`,
		`{"email":"  FUZZ-EXISTING-FAN@EXAMPLE.COM  ","password":"existing-password"}`,
		`{"email":"nobody@example.com","password":"existing-password"}`,
		`{"email":"` + existingFanEmail + `"}`,
		`{"email":1,"password":true}`,
		`{"email":"` + existingFanEmail + `","password":"existing-password","remember":true}`,
		`{"email":"nul\u0000@example.com","password":"password1"}`,
		`{"email":"` + existingFanEmail + `","password":"existing\u0000password"}`,
		`{"email":"` + existingFanEmail + `","password":"` + strings.Repeat("p", 100) + `"}`,
		`{"email":"zoë@東京.example","password":"пароль-пароль"}`,
		`{"email":"x","email":"` + existingFanEmail + `","password":"nope","password":"existing-password"}`,
		`{"EMAIL":"` + existingFanEmail + `","PASSWORD":"existing-password"}`,
		`{"email":"%","password":"%"}`,
		`{"email":"' OR 1=1 --","password":"x"}`,
		`{"email":{"$gt":""},"password":{"$gt":""}}`,
		`{"email":1e999,"password":"x"}`,
		`{"email":"` + strings.Repeat("e", 5000) + `","password":"x"}`,
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		fe.log.take()
		r := fe.call(t, http.MethodPost, "/api/v1/auth/login", "", body)
		m := fe.requireSane(t, "POST /api/v1/auth/login", body, r, nil)
		if r.Status < 300 {
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			require.NotNil(t, m["user"])
			require.NotEmpty(t, m["token"])
		}
		existing.requireIntact(t, fe, body)
	})
}

// getEvent is the public answer for an event: status and body, compared byte for byte.
func (fe *fuzzEnv) getEvent(t testing.TB, id string) fuzzAnswer {
	t.Helper()
	return fe.call(t, http.MethodGet, "/api/v1/events/"+id, "", nil)
}

// eventExists asks the store directly, so ids that are not valid path segments work too.
func (fe *fuzzEnv) eventExists(t testing.TB, id string) bool {
	t.Helper()
	_, err := fe.db.Event(context.Background(), id)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	require.NoError(t, err, "event %q", id)
	return true
}

// ticketsToMake estimates the tickets the server would create for body, reading it
// as the server does; 0 when the server will refuse it before making any.
func ticketsToMake(body []byte) int {
	var n web.NewEventBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if dec.Decode(&n) != nil {
		return 0
	}
	total := 0
	for _, z := range n.Zones {
		if z.Capacity != nil && *z.Capacity > 0 && *z.Capacity <= store.MaxEventCapacity {
			total += *z.Capacity
		}
		for _, r := range z.Rows {
			if r.Seats > 0 && r.Seats <= 1000 {
				total += r.Seats
			}
		}
	}
	return total
}

// bodyEventID is the id the server reads from body, if any.
func bodyEventID(body []byte) string {
	var n web.NewEventBody
	_ = json.NewDecoder(bytes.NewReader(body)).Decode(&n) // fields before an error are kept
	return n.ID
}

const existingEventID = "fuzz-existing-event"

// fuzzEventJSON is a valid creation body of two small zones.
func fuzzEventJSON(id string) string {
	return `{"id":"` + id + `","name":"Fuzz show","venue":"Hall","starts_at":"2030-06-01T20:00:00Z",` +
		`"sale_opens_at":"2030-05-01T10:00:00Z","hold_seconds":600,"max_tickets_per_user":6,"max_active_shoppers":2000,` +
		`"zones":[{"id":"GA","name":"General Admission","kind":"pool","capacity":3,"price_cents":9900},` +
		`{"id":"VIP","name":"VIP","kind":"seated","price_cents":45000,"rows":[{"row":"1","seats":2},{"row":"2","seats":2}]}]}`
}

// withZones is a valid event body around the given zones.
func withZones(id, zones string) string {
	return `{"id":"` + id + `","name":"Fuzz show","starts_at":"2030-06-01T20:00:00Z","sale_opens_at":"2030-05-01T10:00:00Z","zones":` + zones + `}`
}

// withTimes is a valid event body with the given time fields.
func withTimes(id, times string) string {
	return `{"id":"` + id + `","name":"Fuzz show",` + times + `,"zones":[{"id":"GA","kind":"pool","capacity":1,"price_cents":100}]}`
}

func FuzzCreateEvent(f *testing.F) {
	fe := newFuzzEnv(f)
	org := storetest.Organizer(f, fe.db)
	token, err := fe.db.CreateToken(context.Background(), org.ID)
	require.NoError(f, err)
	if !fe.eventExists(f, existingEventID) {
		r := fe.call(f, http.MethodPost, "/api/v1/events", token, []byte(fuzzEventJSON(existingEventID)))
		require.Equal(f, http.StatusCreated, r.Status, "%s", r.Body)
	}

	addSeeds(f, malformedSeeds)
	addSeeds(f, []string{
		fuzzEventJSON("fz-valid"),
		fuzzEventJSON(existingEventID),
		withZones("fz-pool", `[{"id":"GA","kind":"pool","capacity":1,"price_cents":0}]`),
		`{"id":"fz-dup","id":"` + existingEventID + `","name":"Dup","starts_at":"2030-06-01T20:00:00Z","sale_opens_at":"2030-05-01T10:00:00Z","zones":[{"id":"GA","kind":"pool","capacity":1,"price_cents":1}]}`,
		`{"ID":"fz-case","NAME":"Case","Starts_At":"2030-06-01T20:00:00Z","SALE_OPENS_AT":"2030-05-01T10:00:00Z","Zones":[{"ID":"GA","KIND":"pool","Capacity":1,"Price_Cents":1}]}`,
		withZones("fz-strcap", `[{"id":"GA","kind":"pool","capacity":"10","price_cents":1}]`),
		withZones("fz-negcap", `[{"id":"GA","kind":"pool","capacity":-5,"price_cents":1}]`),
		withZones("fz-zerocap", `[{"id":"GA","kind":"pool","capacity":0,"price_cents":1}]`),
		withZones("fz-million1", `[{"id":"GA","kind":"pool","capacity":1000001,"price_cents":1}]`),
		withZones("fz-int32", `[{"id":"GA","kind":"pool","capacity":2147483648,"price_cents":1}]`),
		withZones("fz-hugecap", `[{"id":"GA","kind":"pool","capacity":1e999,"price_cents":1}]`),
		withZones("fz-fraccap", `[{"id":"GA","kind":"pool","capacity":1.5,"price_cents":1}]`),
		withZones("fz-bigprice", `[{"id":"GA","kind":"pool","capacity":1,"price_cents":9223372036854775808}]`),
		withZones("fz-seats", `[{"id":"VIP","kind":"seated","capacity":5,"price_cents":1,"rows":[{"row":"1","seats":2}]},{"id":"B","kind":"seated","price_cents":1,"rows":[{"row":"1/","seats":1001}]}]`),
		withZones("fz-kind", `[{"id":"GA","kind":"POOL","capacity":1,"price_cents":1,"extra":true}]`),
		withZones("fz-nulzone", `[{"id":"GA","name":"G\u0000A","kind":"pool","capacity":1,"price_cents":1}]`),
		withZones("fz-nullzones", `null`),
		`{"id":"fz-unknown","name":"x","capacity":10,"zones":[]}`,
		`{"id":"fz-nul","name":"Nul\u0000show","starts_at":"2030-06-01T20:00:00Z","sale_opens_at":"2030-05-01T10:00:00Z","zones":[{"id":"GA","kind":"pool","capacity":1,"price_cents":1}]}`,
		`{"id":"fz-unicode","name":"Zoë 🎟️ 東京","venue":"Ünïcødé\u2028hall","starts_at":"2030-06-01T20:00:00Z","sale_opens_at":"2030-05-01T10:00:00Z","zones":[{"id":"GA","name":"Ряд","kind":"pool","capacity":1,"price_cents":1}]}`,
		withTimes("fz-spacetime", `"starts_at":"2030-06-01 20:00:00","sale_opens_at":"2030-05-01T10:00:00Z"`),
		withTimes("fz-unixtime", `"starts_at":1906660800,"sale_opens_at":"2030-05-01T10:00:00Z"`),
		withTimes("fz-nozone", `"starts_at":"2030-06-01T20:00:00","sale_opens_at":"2030-13-01T10:00:00Z"`),
		withTimes("fz-year0", `"starts_at":"2030-06-01T20:00:00Z","sale_opens_at":"0000-01-01T00:00:00Z"`),
		withTimes("fz-year10000", `"starts_at":"9999-12-31T23:59:59-23:59","sale_opens_at":"2030-05-01T10:00:00Z"`),
		withTimes("fz-reversed", `"starts_at":"2030-05-01T10:00:00Z","sale_opens_at":"2030-06-01T20:00:00Z","lobby_opens_at":"2030-07-01T00:00:00Z"`),
		`{"id":"fz-limits","name":"x","starts_at":"2030-06-01T20:00:00Z","sale_opens_at":"2030-05-01T10:00:00Z","hold_seconds":-1,"max_active_shoppers":1000001,"currency":"USD","zones":[{"id":"GA","kind":"pool","capacity":1,"price_cents":1}]}`,
		`{"id":"../etc","name":"x","starts_at":"2030-06-01T20:00:00Z","sale_opens_at":"2030-05-01T10:00:00Z","zones":[{"id":"GA","kind":"pool","capacity":1,"price_cents":1}]}`,
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		if n := ticketsToMake(body); n > fuzzTicketCap {
			t.Skipf("would make %d tickets", n)
		}
		id := bodyEventID(body)
		existedBefore := id != "" && fe.eventExists(t, id)
		before := fe.getEvent(t, existingEventID)
		fe.log.take()

		r := fe.call(t, http.MethodPost, "/api/v1/events", token, body)
		m := fe.requireSane(t, "POST /api/v1/events", body, r, func() string {
			if id == "" || !fe.eventExists(t, id) {
				return "no event " + id + " stored"
			}
			one := fe.getEvent(t, url.PathEscape(id))
			all := fe.call(t, http.MethodGet, "/api/v1/events", "", nil)
			return fmt.Sprintf("event %q stored anyway; GET /api/v1/events/%s answers %d %s; GET /api/v1/events answers %d %s",
				id, id, one.Status, one.Body, all.Status, all.Body)
		})

		after := fe.getEvent(t, existingEventID)
		require.Equal(t, before, after, "event %s changed after body %q", existingEventID, body)
		switch {
		case r.Status < 300:
			require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
			require.False(t, existedBefore, "event %q existed, yet body %q was answered %d", id, body, r.Status)
			ev, _ := m["event"].(map[string]any)
			require.Equal(t, id, ev["id"], "body %q", body)
			got := fe.getEvent(t, id)
			require.Equal(t, http.StatusOK, got.Status, "created event %q cannot be read: %s", id, got.Body)
		case id != "":
			require.Equal(t, existedBefore, fe.eventExists(t, id),
				"event %q existed before: %v; after body %q answered %d it differs", id, existedBefore, body, r.Status)
		}
	})
}

// fuzzPatchTarget is an event the PATCH target works on: scheduled (the sale is
// in 2030) or on sale (opened a minute ago). An input that changes it gets a new one,
// so every input starts from the same event.
type fuzzPatchTarget struct {
	id    string
	onto  func(tb testing.TB) string
	dirty bool
}

func (p *fuzzPatchTarget) event(tb testing.TB) string {
	if p.id == "" || p.dirty {
		p.id, p.dirty = p.onto(tb), false
	}
	return p.id
}

func FuzzUpdateEvent(f *testing.F) {
	fe := newFuzzEnv(f)
	org := storetest.Organizer(f, fe.db)
	token, err := fe.db.CreateToken(context.Background(), org.ID)
	require.NoError(f, err)
	scheduled := &fuzzPatchTarget{onto: func(tb testing.TB) string {
		id := store.NewID("fzpatch")
		r := fe.call(tb, http.MethodPost, "/api/v1/events", token, []byte(fuzzEventJSON(id)))
		require.Equal(tb, http.StatusCreated, r.Status, "%s", r.Body)
		return id
	}}
	onSale := &fuzzPatchTarget{onto: func(tb testing.TB) string {
		return storetest.Event(tb, fe.db, org.ID, 2, store.Row{Row: "1", Seats: 2}).ID
	}}
	scheduled.event(f)
	onSale.event(f)

	for _, s := range malformedSeeds {
		f.Add(false, []byte(s))
	}
	for _, s := range []string{
		`{"name":"Renamed show","venue":"Bigger hall"}`,
		`{"sale_opens_at":"2030-04-01T10:00:00Z","lobby_opens_at":"2030-04-01T09:00:00Z"}`,
		`{"hold_seconds":300,"max_tickets_per_user":4,"max_active_shoppers":500,"admission_rate":10}`,
		`{"paused":true}`,
		`{"paused":"yes","max_active_shoppers":1}`,
		`{"paused":null}`,
		`{"name":1,"hold_seconds":"600","starts_at":true}`,
		`{"id":"other-id"}`,
		`{"capacity":1000001}`,
		`{"zones":[{"id":"GA","kind":"pool","capacity":-5,"price_cents":1}]}`,
		`{"zones":null,"name":"Zones null"}`,
		`{"name":"Zoë 🎟️ 東京","venue":"\u2028Ряд"}`,
		`{"name":"Nul\u0000show"}`,
		`{"venue":"\u0000"}`,
		`{"name":"   "}`,
		`{"name":"A","name":"` + strings.Repeat("n", 201) + `"}`,
		`{"starts_at":"2030-06-01 20:00:00"}`,
		`{"sale_opens_at":1906660800}`,
		`{"starts_at":"2030-06-01T20:00:00"}`,
		`{"lobby_opens_at":"0000-01-01T00:00:00+01:00"}`,
		`{"starts_at":"9999-12-31T23:59:59-23:59"}`,
		`{"sale_opens_at":"2031-01-01T00:00:00Z"}`,
		`{"currency":"eur"}`,
		`{"currency":"usd","hold_seconds":0}`,
		`{"hold_seconds":-1,"max_active_shoppers":1000001}`,
		`{"hold_seconds":1e999}`,
		`{"max_tickets_per_user":9223372036854775808}`,
	} {
		f.Add(false, []byte(s))
	}
	f.Add(true, []byte(`{"sale_opens_at":"2030-04-01T10:00:00Z"}`))
	f.Add(true, []byte(`{"lobby_opens_at":"2000-01-01T00:00:00Z"}`))
	f.Add(true, []byte(`{"name":"Still on sale","max_active_shoppers":10}`))

	f.Fuzz(func(t *testing.T, open bool, body []byte) {
		target := scheduled
		if open {
			target = onSale
		}
		id := target.event(t)
		path := "/api/v1/events/" + id
		before := fe.getEvent(t, id)
		require.Equal(t, http.StatusOK, before.Status, "%s", before.Body)
		fe.log.take()

		target.dirty = true // until shown unchanged
		r := fe.call(t, http.MethodPatch, path, token, body)
		fe.requireSane(t, "PATCH "+path, body, r, func() string {
			after := fe.getEvent(t, id)
			if after.Status == before.Status && bytes.Equal(after.Body, before.Body) {
				return "the event is unchanged"
			}
			return fmt.Sprintf("the event changed anyway: GET %s answers %d %s (was %s)", path, after.Status, after.Body, before.Body)
		})

		after := fe.getEvent(t, id)
		if r.Status >= 300 {
			require.Equal(t, string(before.Body), string(after.Body), "a refused PATCH (%d) changed the event: body %q", r.Status, body)
			require.Equal(t, before.Status, after.Status)
			target.dirty = false
			return
		}
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		require.Equal(t, http.StatusOK, after.Status, "the patched event cannot be read: body %q: %s", body, after.Body)
		require.JSONEq(t, string(r.Body), string(after.Body), "PATCH answered one event, GET shows another: body %q", body)
	})
}
