package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Roles. A fan can never become an organizer through the API: only `boxoffice demo`
// and the BOXOFFICE_ORGANIZER_* settings make organizers.
const (
	RoleFan       = "fan"
	RoleOrganizer = "organizer"
)

// TokenTTL is how long a sign-in token lasts.
const TokenTTL = 30 * 24 * time.Hour

var ErrBadCredentials = errors.New("email or password is wrong")

// User is an account.
type User struct {
	ID    string
	Name  string
	Email string
	Role  string
}

// IsOrganizer reports whether the user may manage events.
func (u *User) IsOrganizer() bool { return u.Role == RoleOrganizer }

// Registration is what a new account needs.
type Registration struct {
	Name     string
	Email    string
	Password string
}

// Validate checks the fields a fan types, naming the first one that is wrong.
func (r *Registration) Validate() error {
	r.Name = strings.TrimSpace(r.Name)
	r.Email = strings.TrimSpace(r.Email)
	switch {
	case r.Name == "" || utf8.RuneCountInString(r.Name) > 200 || !printable(r.Name):
		return invalid("name", "must be 1 to 200 characters, without control characters")
	case !validEmail(r.Email) || !printable(r.Email):
		return invalid("email", "must be an email address such as fan@example.com")
	case len(r.Password) < 8 || len(r.Password) > 72: // bcrypt reads at most 72 bytes
		return invalid("password", "must be 8 to 72 bytes long")
	}
	return nil
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && len(s) <= 254 && strings.Contains(s[strings.LastIndexByte(s, '@'):], ".")
}

// CreateUser stores a new account with a bcrypt hash of its password. A taken email
// is a *DuplicateError naming "email".
func (db *DB) CreateUser(ctx context.Context, r Registration, role string) (*User, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), db.bcryptCost())
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	u := &User{ID: NewID("usr"), Name: r.Name, Email: r.Email, Role: role}
	const q = `
		INSERT INTO users (id, name, email, password_hash, role)
		VALUES ($1, $2, $3, $4, $5)`
	if _, err := db.pool.Exec(ctx, q, u.ID, u.Name, u.Email, hash, u.Role); err != nil {
		return nil, fmt.Errorf("create user: %w", translate(err))
	}
	return u, nil
}

// EnsureOrganizer makes the account with this email an organizer with this
// password, creating it when missing. It reports whether anything changed.
func (db *DB) EnsureOrganizer(ctx context.Context, r Registration) (*User, bool, error) {
	if err := r.Validate(); err != nil {
		return nil, false, err
	}
	u, err := db.Authenticate(ctx, r.Email, r.Password)
	switch {
	case err == nil && u.IsOrganizer():
		return u, false, nil
	case errors.Is(err, ErrBadCredentials):
		u, err = db.CreateUser(ctx, r, RoleOrganizer)
		if !errors.Is(err, ErrDuplicate) {
			return u, err == nil, err
		}
	case err != nil:
		return nil, false, err
	}
	// The account exists as a fan or with another password: the operator's
	// configuration wins.
	hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), db.bcryptCost())
	if err != nil {
		return nil, false, fmt.Errorf("hash password: %w", err)
	}
	const q = `
		UPDATE users SET role = 'organizer', password_hash = $2
		WHERE lower(email) = lower($1)
		RETURNING id, name, email, role`
	u = &User{}
	if err := db.pool.QueryRow(ctx, q, r.Email, hash).Scan(&u.ID, &u.Name, &u.Email, &u.Role); err != nil {
		return nil, false, fmt.Errorf("promote organizer: %w", translate(err))
	}
	return u, true, nil
}

// Authenticate returns the user whose email and password these are.
func (db *DB) Authenticate(ctx context.Context, email, password string) (*User, error) {
	if !printable(email) {
		return nil, ErrBadCredentials
	}
	const q = `
		SELECT id, name, email, role, password_hash
		FROM users WHERE lower(email) = lower($1)`
	var (
		u    User
		hash []byte
	)
	err := db.pool.QueryRow(ctx, q, strings.TrimSpace(email)).Scan(&u.ID, &u.Name, &u.Email, &u.Role, &hash)
	if err != nil {
		if err = translate(err); !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("look up user: %w", err)
		}
		// An unknown email costs the same bcrypt comparison as a known one, so
		// the answer's timing does not tell which emails have accounts.
		_ = db.passwords.compare(db.passwords.dummy(db.bcryptCost()), []byte(password))
		return nil, ErrBadCredentials
	}
	if db.passwords.compare(hash, []byte(password)) != nil {
		return nil, ErrBadCredentials
	}
	return &u, nil
}

// passwordChecker compares passwords with their bcrypt hashes. Its zero value
// is ready to use.
type passwordChecker struct {
	// compared, when set, hears of every comparison (tests count them).
	compared func()

	once      sync.Once
	dummyHash []byte
}

func (p *passwordChecker) compare(hash, password []byte) error {
	if p.compared != nil {
		p.compared()
	}
	return bcrypt.CompareHashAndPassword(hash, password)
}

// dummy is a hash of a random password at the cost new accounts get, made once.
func (p *passwordChecker) dummy(cost int) []byte {
	p.once.Do(func() {
		var pw [16]byte
		_, _ = rand.Read(pw[:])
		p.dummyHash, _ = bcrypt.GenerateFromPassword(pw[:], cost)
	})
	return p.dummyHash
}

// UserByEmail returns the account with this email, whatever its case.
func (db *DB) UserByEmail(ctx context.Context, email string) (*User, error) {
	const q = `SELECT id, name, email, role FROM users WHERE lower(email) = lower($1)`
	var u User
	if err := db.pool.QueryRow(ctx, q, email).Scan(&u.ID, &u.Name, &u.Email, &u.Role); err != nil {
		return nil, fmt.Errorf("user %s: %w", email, translate(err))
	}
	return &u, nil
}

// CreateToken issues a bearer token for the user. Only its hash is stored.
func (db *DB) CreateToken(ctx context.Context, userID string) (string, error) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	token := base64.RawURLEncoding.EncodeToString(b[:])
	const q = `INSERT INTO auth_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, $3)`
	if _, err := db.pool.Exec(ctx, q, hashToken(token), userID, time.Now().Add(TokenTTL)); err != nil {
		return "", fmt.Errorf("create token: %w", translate(err))
	}
	return token, nil
}

// UserByToken returns the holder of a live token, or ErrNotFound.
func (db *DB) UserByToken(ctx context.Context, token string) (*User, error) {
	const q = `
		SELECT u.id, u.name, u.email, u.role
		FROM auth_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.token_hash = $1 AND t.expires_at > now()`
	var u User
	if err := db.pool.QueryRow(ctx, q, hashToken(token)).Scan(&u.ID, &u.Name, &u.Email, &u.Role); err != nil {
		return nil, translate(err)
	}
	return &u, nil
}

// DeleteToken signs a token out; deleting an unknown token is not an error.
func (db *DB) DeleteToken(ctx context.Context, token string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM auth_tokens WHERE token_hash = $1`, hashToken(token)); err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	return nil
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
