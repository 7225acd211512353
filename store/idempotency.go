package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
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
// differs.
func (db *DB) ClaimIdempotencyKey(ctx context.Context, scope, key string, hash []byte) (Claim, error) {
	// A row past its lifetime, or abandoned in flight, is taken over as new.
	const q = `
		INSERT INTO idempotency_keys (scope, key, request_hash)
		VALUES ($1, $2, $3)
		ON CONFLICT (scope, key) DO UPDATE
			SET request_hash = EXCLUDED.request_hash, status = 0, content_type = '', body = '',
				created_at = now(), heartbeat_at = now()
			WHERE idempotency_keys.created_at < now() - $4 * interval '1 second'
			   OR (idempotency_keys.status = 0 AND idempotency_keys.heartbeat_at < now() - $5 * interval '1 second')
		RETURNING true`
	// Lazily (see lazily): a claim lost in a database crash was either
	// followed by nothing durable, or flushed by what followed.
	var claimed bool
	err := db.lazily(ctx, func(b *pgx.Batch) {
		b.Queue(q, scope, key, hash, IdempotencyTTL.Seconds(), abandonAfter.Seconds()).QueryRow(func(row pgx.Row) error {
			return row.Scan(&claimed)
		})
	})
	if err == nil {
		return Claim{Owned: true}, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Claim{}, fmt.Errorf("claim idempotency key: %w", err)
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

// HeartbeatIdempotencyKey says the key's request is still running.
func (db *DB) HeartbeatIdempotencyKey(ctx context.Context, scope, key string) error {
	const q = `UPDATE idempotency_keys SET heartbeat_at = now() WHERE scope = $1 AND key = $2 AND status = 0`
	if _, err := db.pool.Exec(ctx, q, scope, key); err != nil {
		return fmt.Errorf("heartbeat idempotency key: %w", err)
	}
	return nil
}

// SaveIdempotentResponse keeps the first answer for replay. Lazily (see
// lazily): an answer lost in a database crash leaves the key claimed and
// silent, and a retry takes it over after abandonAfter and runs again, as when
// the replica running it crashed.
func (db *DB) SaveIdempotentResponse(ctx context.Context, scope, key string, r StoredResponse) error {
	const q = `UPDATE idempotency_keys SET status = $3, content_type = $4, body = $5 WHERE scope = $1 AND key = $2`
	body := r.Body
	if body == nil {
		body = []byte{} // an answer without one (204): nil would be NULL
	}
	err := db.lazily(ctx, func(b *pgx.Batch) { b.Queue(q, scope, key, r.Status, r.ContentType, body) })
	if err != nil {
		return fmt.Errorf("save idempotent response: %w", err)
	}
	return nil
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
