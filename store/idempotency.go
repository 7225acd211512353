package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// IdempotencyTTL is how long a stored result is replayed.
const IdempotencyTTL = 24 * time.Hour

// Heartbeat is how often the request that owns a key says it is still running;
// a key not heard of for abandonAfter lost its owner (a replica died mid-request)
// and is taken over, so a retry runs within seconds instead of waiting.
const (
	Heartbeat    = 2 * time.Second
	abandonAfter = 3 * Heartbeat
)

var (
	// ErrKeyReused is the same key sent with a different request.
	ErrKeyReused = errors.New("idempotency key was used for a different request")
	// ErrKeyInFlight is the same key while its first request still runs.
	ErrKeyInFlight = errors.New("a request with this idempotency key is in progress")
)

// StoredResponse is a first answer kept for replay.
type StoredResponse struct {
	Status      int
	ContentType string
	Body        []byte
}

// Claim is what claiming an idempotency key found: the key is the caller's
// now (Owned: run the request, then SaveIdempotentResponse or
// ReleaseIdempotencyKey), or the first answer is Stored, to replay.
type Claim struct {
	Owned  bool
	Stored *StoredResponse
}

// ClaimIdempotencyKey claims (scope, key) for the request with this hash. It is
// ErrKeyInFlight while the first request runs, and ErrKeyReused when the hash
// differs. Concurrent claims go to the database together (see group).
func (db *DB) ClaimIdempotencyKey(ctx context.Context, scope, key string, hash []byte) (Claim, error) {
	if !storable(scope) || !storable(key) {
		return Claim{}, ErrBadText // refused here: in a batch it would fail everyone's claims
	}
	claimed, err := db.claims.do(ctx, keyClaim{scope: scope, key: key, hash: hash})
	if err != nil {
		return Claim{}, fmt.Errorf("claim idempotency key: %w", err)
	}
	if claimed {
		return Claim{Owned: true}, nil
	}
	var (
		stored StoredResponse
		prev   []byte
	)
	const qs = `SELECT request_hash, status, content_type, body FROM idempotency_keys WHERE scope = $1 AND key = $2`
	if err := db.pool.QueryRow(ctx, qs, scope, key).Scan(&prev, &stored.Status, &stored.ContentType, &stored.Body); err != nil {
		if errors.Is(err, pgx.ErrNoRows) { // released between the two statements
			return Claim{}, ErrKeyInFlight
		}
		return Claim{}, fmt.Errorf("read idempotency key: %w", err)
	}
	switch {
	case !bytes.Equal(prev, hash):
		return Claim{}, ErrKeyReused
	case stored.Status == 0:
		return Claim{}, ErrKeyInFlight
	}
	return Claim{Stored: &stored}, nil
}

// storable reports whether PostgreSQL can keep s as text.
func storable(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

type keyClaim struct {
	scope, key string
	hash       []byte
}

// claimKeys claims the keys it can in one statement, and says which it did. A
// key twice in the batch (a double click) is claimed at most once: the second
// finds the first in flight. A row past its lifetime, or abandoned in flight,
// is taken over as new. Lazily (see lazily): a claim lost in a database crash
// was either followed by nothing durable, or flushed by what followed.
func (db *DB) claimKeys(ctx context.Context, claims []keyClaim) ([]bool, error) {
	const q = `
		INSERT INTO idempotency_keys (scope, key, request_hash)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[]) ORDER BY 1, 2
		ON CONFLICT (scope, key) DO UPDATE
			SET request_hash = EXCLUDED.request_hash, status = 0, content_type = '', body = '',
				created_at = now(), heartbeat_at = now()
			WHERE idempotency_keys.created_at < now() - $4 * interval '1 second'
			   OR (idempotency_keys.status = 0 AND idempotency_keys.heartbeat_at < now() - $5 * interval '1 second')
		RETURNING scope, key`
	type sk struct{ scope, key string }
	var (
		scopes, keys []string
		hashes       [][]byte
		sent         = make(map[sk]bool, len(claims))
		won          = make(map[sk]bool, len(claims))
	)
	for _, c := range claims {
		if k := (sk{c.scope, c.key}); !sent[k] {
			sent[k] = true
			scopes, keys, hashes = append(scopes, c.scope), append(keys, c.key), append(hashes, c.hash)
		}
	}
	err := retryDeadlock(func() error {
		clear(won)
		return db.lazily(ctx, func(b *pgx.Batch) {
			b.Queue(q, scopes, keys, hashes, IdempotencyTTL.Seconds(), abandonAfter.Seconds()).Query(func(rows pgx.Rows) error {
				var k sk
				_, err := pgx.ForEachRow(rows, []any{&k.scope, &k.key}, func() error {
					won[k] = true
					return nil
				})
				return err
			})
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(claims))
	for i, c := range claims {
		k := sk{c.scope, c.key}
		out[i] = won[k]
		won[k] = false // the first of a double click has it
	}
	return out, nil
}

// HeartbeatIdempotencyKey says the key's request is still running.
func (db *DB) HeartbeatIdempotencyKey(ctx context.Context, scope, key string) error {
	const q = `UPDATE idempotency_keys SET heartbeat_at = now() WHERE scope = $1 AND key = $2 AND status = 0`
	if _, err := db.pool.Exec(ctx, q, scope, key); err != nil {
		return fmt.Errorf("heartbeat idempotency key: %w", err)
	}
	return nil
}

// SaveIdempotentResponse keeps the first answer for replay. Concurrent saves
// go to the database together (see group). Lazily (see lazily): an answer lost
// in a database crash leaves the key claimed and silent, and a retry takes it
// over after abandonAfter and runs again, as when the replica running it
// crashed.
func (db *DB) SaveIdempotentResponse(ctx context.Context, scope, key string, r StoredResponse) error {
	if r.Body == nil {
		r.Body = []byte{} // an answer without one (204): nil would be NULL
	}
	if _, err := db.saves.do(ctx, keySave{scope: scope, key: key, r: r}); err != nil {
		return fmt.Errorf("save idempotent response: %w", err)
	}
	return nil
}

type keySave struct {
	scope, key string
	r          StoredResponse
}

// saveAnswers keeps the answers in one statement. Only a key's owner saves it,
// so no two saves are of one key; but a claim of the same key (a retry, on
// another replica) locks its row too, so the rows are locked first in the
// order claims take them (by scope and key), or two batches could each hold a
// row the other waits for.
func (db *DB) saveAnswers(ctx context.Context, saves []keySave) ([]struct{}, error) {
	const (
		lock = `
			SELECT FROM idempotency_keys WHERE (scope, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))
			ORDER BY scope, key FOR UPDATE`
		q = `
			UPDATE idempotency_keys k SET status = x.status, content_type = x.content_type, body = x.body
			FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::bytea[]) AS x (scope, key, status, content_type, body)
			WHERE k.scope = x.scope AND k.key = x.key`
	)
	n := len(saves)
	scopes, keys, types := make([]string, n), make([]string, n), make([]string, n)
	statuses, bodies := make([]int32, n), make([][]byte, n)
	for i, s := range saves {
		scopes[i], keys[i], statuses[i], types[i], bodies[i] = s.scope, s.key, int32(s.r.Status), s.r.ContentType, s.r.Body
	}
	err := retryDeadlock(func() error {
		return db.lazily(ctx, func(b *pgx.Batch) {
			// Planned for each batch: a cached generic plan is made on the
			// sixth run, when the table is small and a scan of it cheapest,
			// and kept while it grows (until an ANALYZE, which may never
			// come): on a rehearsed day both statements ended up reading the
			// whole table, 10 ms a batch at 32,000 keys.
			b.Queue(`SELECT set_config('plan_cache_mode', 'force_custom_plan', true)`)
			b.Queue(lock, scopes, keys)
			b.Queue(q, scopes, keys, statuses, types, bodies)
		})
	})
	if err != nil {
		return nil, err
	}
	return make([]struct{}, n), nil
}

// retryDeadlock runs a batch of many fans' keys again if PostgreSQL broke a
// deadlock by aborting it (nothing of it was kept): claims and saves lock rows
// in one order, but a batch fails for everyone in it, so a deadlock with any
// other transaction must not become their errors.
func retryDeadlock(run func() error) error {
	err := run()
	for range 2 {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "40P01" {
			return err
		}
		err = run()
	}
	return err
}

// ReleaseIdempotencyKey forgets a claim whose request did not finish with an
// answer worth replaying (a server error), so the client's retry runs again.
func (db *DB) ReleaseIdempotencyKey(ctx context.Context, scope, key string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status = 0`, scope, key); err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// PurgeIdempotencyKeys deletes results past their lifetime.
func (db *DB) PurgeIdempotencyKeys(ctx context.Context) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < now() - $1 * interval '1 second'`, IdempotencyTTL.Seconds())
	if err != nil {
		return 0, fmt.Errorf("purge idempotency keys: %w", err)
	}
	return tag.RowsAffected(), nil
}
