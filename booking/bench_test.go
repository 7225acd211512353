package booking_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/booking"
	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

type quiet struct{}

func (quiet) TicketsChanged(context.Context, string, string, map[string]string) {}
func (quiet) HoldExpired(context.Context, *store.Hold)                          {}

const (
	shoppers = 2000
	rows     = 100 // 100 rows of 100 seats: 10,000 tickets
	perRow   = 100
)

// contention makes a 10,000-seat event and 2,000 shoppers with sessions.
func contention(b *testing.B) (*store.DB, redis.UniversalClient, *store.Event, []string) {
	b.Helper()
	db := storetest.DB(b)
	rdb := storetest.Redis(b)
	org := storetest.Organizer(b, db)
	var layout []store.Row
	for r := 1; r <= rows; r++ {
		layout = append(layout, store.Row{Row: strconv.Itoa(r), Seats: perRow})
	}
	ev := storetest.Event(b, db, org.ID, 0, layout...)
	storetest.CleanRedis(b, rdb, ev.ID)
	users := make([]string, shoppers)
	exp := float64(time.Now().Add(time.Hour).UnixMilli())
	for i := range users {
		users[i] = storetest.Fan(b, db).ID
		require.NoError(b, rdb.ZAdd(context.Background(), queue.ActiveKey(ev.ID), redis.Z{Score: exp, Member: users[i]}).Err())
	}
	return db, rdb, ev, users
}

// frontSeats picks two adjacent seats, most often near the stage: everyone wants
// the best seats.
func frontSeats(rng *rand.Rand) []string {
	row := 1 + int(math.Min(float64(rows-1), rng.ExpFloat64()*8))
	seat := 1 + rng.IntN(perRow-1)
	return []string{strconv.Itoa(row) + store.SeatLetters(seat), strconv.Itoa(row) + store.SeatLetters(seat+1)}
}

// BenchmarkReserveContention: 2,000 shoppers ask for pairs of seats near the
// stage of a 10,000-seat event at once. "redis-gate" is Boxoffice's reserve
// (a Lua script refuses taken seats, PostgreSQL records the winners);
// "postgres-for-update" is the original design's reserve in one PostgreSQL
// transaction with SELECT … FOR UPDATE. Both report successful holds per second,
// and both check afterwards that no ticket is held twice.
func BenchmarkReserveContention(b *testing.B) {
	b.Run("redis-gate", func(b *testing.B) {
		db, rdb, ev, users := contention(b)
		svc := booking.New(db, inventory.New(rdb, time.Now, queue.ActiveKey), payments.NewTestProvider(db), quiet{},
			slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
		require.NoError(b, svc.Rebuild(context.Background(), ev.ID))
		reserve := func(ctx context.Context, user string, seats []string) error {
			_, err := svc.Reserve(ctx, booking.Request{Event: ev, ZoneID: "VIP", UserID: user,
				Until: time.Now().Add(time.Hour), Seats: seats})
			return err
		}
		runContention(b, db, ev, users, reserve)
	})
	b.Run("postgres-for-update", func(b *testing.B) {
		db, _, ev, users := contention(b)
		reserve := func(ctx context.Context, user string, seats []string) error {
			return forUpdateReserve(ctx, db, ev.ID, user, seats)
		}
		runContention(b, db, ev, users, reserve)
	})
}

func runContention(b *testing.B, db *store.DB, ev *store.Event, users []string,
	reserve func(ctx context.Context, user string, seats []string) error) {
	var (
		next, won atomic.Int64
		ctx       = context.Background()
	)
	b.SetParallelism(shoppers / 2) // 2,000 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := next.Add(1)
		user := users[int(i)%len(users)]
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		for pb.Next() {
			if reserve(ctx, user, frontSeats(rng)) == nil {
				won.Add(1)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(won.Load())/b.Elapsed().Seconds(), "holds/s")
	var doubles int
	require.NoError(b, db.Pool().QueryRow(ctx, `
		SELECT count(*) FROM (SELECT ticket_id FROM hold_tickets ht JOIN holds h ON h.id = ht.hold_id
		WHERE h.event_id = $1 AND ht.active GROUP BY ticket_id HAVING count(*) > 1) d`, ev.ID).Scan(&doubles))
	require.Zero(b, doubles, "a seat held twice")
}

var errTaken = errors.New("taken")

// forUpdateReserve is the original design's reserve: lock the seats' rows, check
// them, take them, all in PostgreSQL.
func forUpdateReserve(ctx context.Context, db *store.DB, eventID, user string, seats []string) error {
	id := store.NewID("hld")
	return pgx.BeginFunc(ctx, db.Pool(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT id, status FROM tickets WHERE event_id = $1 AND zone_id = 'VIP' AND seat_id = ANY($2)
			ORDER BY id FOR UPDATE`, eventID, seats)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var (
				tid    int64
				status inventory.TicketStatus
			)
			if err := rows.Scan(&tid, &status); err != nil {
				return err
			}
			if status != inventory.Available {
				rows.Close()
				return errTaken
			}
			ids = append(ids, tid)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) != len(seats) {
			return fmt.Errorf("unknown seats")
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO holds (id, event_id, zone_id, user_id, amount_cents, expires_at)
			VALUES ($1, $2, 'VIP', $3, 0, now() + interval '10 minutes')`, id, eventID, user); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE tickets SET status = 'RESERVED', hold_id = $1 WHERE id = ANY($2)`, id, ids); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO hold_tickets (hold_id, ticket_id) SELECT $1, unnest($2::bigint[])`, id, ids)
		return err
	})
}
