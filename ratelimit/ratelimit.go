// Package ratelimit counts what clients do, in Redis, so that a limit holds for
// all replicas behind a load balancer. It owns the keys under its prefix
// (default "rl"): <prefix>:{<limit>:<subject>}, each key its own Redis Cluster
// hash tag, so every script touches one key and runs on any cluster.
package ratelimit

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed allow.lua
var allowLua string

//go:embed failed.lua
var failedLua string

//go:embed locked.lua
var lockedLua string

// Rate lets Count requests through at once, then one every Per/Count: a bucket
// of Count that refills over Per. The zero Rate limits nothing.
type Rate struct {
	Count int
	Per   time.Duration
}

// ParseRate reads "count/period", such as "300/1m", or "off".
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "off" {
		return Rate{}, nil
	}
	count, per, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(count)
	if !ok || err != nil || n < 1 {
		return Rate{}, errors.New("want count/period such as 300/1m, or off")
	}
	d, err := time.ParseDuration(per)
	if err != nil || d < time.Millisecond*time.Duration(n) {
		return Rate{}, errors.New("want count/period such as 300/1m (a period of at least 1 ms per request), or off")
	}
	return Rate{Count: n, Per: d}, nil
}

// String is the Rate as ParseRate reads it.
func (r Rate) String() string {
	if r.Count == 0 {
		return "off"
	}
	per := r.Per.String()
	for _, zero := range []string{"m0s", "h0m"} { // 1h0m0s reads as 1h
		if strings.HasSuffix(per, zero) {
			per = per[:len(per)-2]
		}
	}
	return strconv.Itoa(r.Count) + "/" + per
}

// Backoff locks an account after Free failed sign-ins: First after the Free-th,
// doubling with each further failure up to Longest. Failures are forgotten
// Forget after the last one, or at the next success.
type Backoff struct {
	Free           int
	First, Longest time.Duration
	Forget         time.Duration
}

// Limiter keeps the counts in Redis. Build it with New.
type Limiter struct {
	rdb    redis.UniversalClient
	prefix string
	allow  *redis.Script
	failed *redis.Script
	locked *redis.Script
}

// shebang opens every script: Redis 7 then holds a script to the slot of its
// keys in a cluster, so one that touched a key of another slot fails there
// (scripts/redis-cluster.sh test), even when both slots live on one node, which
// a script without it may do unnoticed.
const shebang = "#!lua\n"

// New keeps counts under prefix ("rl" in production; tests use their own).
func New(rdb redis.UniversalClient, prefix string) *Limiter {
	return &Limiter{rdb: rdb, prefix: prefix,
		allow: redis.NewScript(shebang + allowLua), failed: redis.NewScript(shebang + failedLua),
		locked: redis.NewScript(shebang + lockedLua)}
}

func (l *Limiter) key(limit, subject string) string {
	return l.prefix + ":{" + limit + ":" + subject + "}"
}

// Allow takes one request of subject from the limit's bucket. It returns 0 when
// the request may go ahead, else how long until it may.
func (l *Limiter) Allow(ctx context.Context, limit string, r Rate, subject string) (time.Duration, error) {
	if r.Count == 0 {
		return 0, nil
	}
	interval := max(r.Per.Milliseconds()/int64(r.Count), 1)
	wait, err := l.allow.Run(ctx, l.rdb, []string{l.key(limit, subject)}, interval, r.Per.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("rate limit %s: %w", limit, err)
	}
	return time.Duration(wait) * time.Millisecond, nil
}

// Locked is how long the account's sign-ins stay refused, 0 when they are not.
func (l *Limiter) Locked(ctx context.Context, account string) (time.Duration, error) {
	ms, err := l.locked.Run(ctx, l.rdb, []string{l.accountKey(account)}).Int64()
	if err != nil {
		return 0, fmt.Errorf("sign-in lock: %w", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Failed counts a failed sign-in for the account and returns the lock it earns
// (0 while failures are still free).
func (l *Limiter) Failed(ctx context.Context, b Backoff, account string) (time.Duration, error) {
	ms, err := l.failed.Run(ctx, l.rdb, []string{l.accountKey(account)},
		b.Free, b.First.Milliseconds(), b.Longest.Milliseconds(), b.Forget.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("count failed sign-in: %w", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Succeeded forgets the account's failures.
func (l *Limiter) Succeeded(ctx context.Context, account string) error {
	if err := l.rdb.Del(ctx, l.accountKey(account)).Err(); err != nil {
		return fmt.Errorf("forget failed sign-ins: %w", err)
	}
	return nil
}

// accountKey names an account by a hash of its normalized email, so Redis holds
// no addresses, and unknown emails are counted like known ones.
func (l *Limiter) accountKey(account string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(account))))
	return l.key("account", hex.EncodeToString(sum[:16]))
}
