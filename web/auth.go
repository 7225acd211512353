package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boxofficehq/boxoffice/store"
)

const (
	cookieName = "boxoffice_token"
	userKey    = "user"
	tokenKey   = "token"
)

// authenticate resolves the caller from a bearer token, the sign-in cookie or,
// for WebSockets which cannot set headers, ?token=. A wrong token is treated as no
// token: routes that need a user answer 401.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token := bearerToken(c)
		if token == "" {
			return next(c)
		}
		u, err := s.userByToken(c.Request().Context(), token)
		switch {
		case err == nil:
			c.Set(userKey, u)
			c.Set(tokenKey, token)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		return next(c)
	}
}

// tokenCacheTTL bounds how long a replica trusts a token it has looked up: a
// crowd polling its place costs PostgreSQL one lookup per fan per TTL, and a
// sign-out reaches the other replicas within it.
const tokenCacheTTL = 5 * time.Second

type tokenCache struct {
	mu      sync.Mutex
	entries map[string]cachedUser
}

type cachedUser struct {
	user *store.User
	at   time.Time
}

func (s *Server) userByToken(ctx context.Context, token string) (*store.User, error) {
	s.tokens.mu.Lock()
	hit, ok := s.tokens.entries[token]
	s.tokens.mu.Unlock()
	if ok && time.Since(hit.at) < tokenCacheTTL {
		return hit.user, nil
	}
	u, err := s.store.UserByToken(ctx, token)
	if err != nil {
		return nil, err
	}
	s.tokens.mu.Lock()
	if s.tokens.entries == nil || len(s.tokens.entries) >= 200_000 {
		s.tokens.entries = map[string]cachedUser{} // crude, but bounded
	}
	s.tokens.entries[token] = cachedUser{user: u, at: time.Now()}
	s.tokens.mu.Unlock()
	return u, nil
}

func (s *Server) forgetToken(token string) {
	s.tokens.mu.Lock()
	delete(s.tokens.entries, token)
	s.tokens.mu.Unlock()
}

func bearerToken(c echo.Context) string {
	if h := c.Request().Header.Get(echo.HeaderAuthorization); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
		return ""
	}
	if ck, err := c.Cookie(cookieName); err == nil {
		return ck.Value
	}
	// Browsers cannot set headers on a WebSocket; nowhere else does a token belong
	// in a URL, where logs and proxies keep it.
	if strings.HasSuffix(c.Path(), "/live") {
		return c.QueryParam("token")
	}
	return ""
}

// currentUser is the signed-in caller, or nil.
func currentUser(c echo.Context) *store.User {
	u, _ := c.Get(userKey).(*store.User)
	return u
}

func (s *Server) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if currentUser(c) == nil {
			return errUnauthorized
		}
		return next(c)
	}
}

func (s *Server) requireOrganizer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		if u == nil {
			return errUnauthorized
		}
		if !u.IsOrganizer() {
			return errForbidden
		}
		return next(c)
	}
}

type authResponse struct {
	User  userJSON `json:"user"`
	Token string   `json:"token"`
}

// register creates a fan account; the role is never taken from the request.
func (s *Server) register(c echo.Context) error {
	var r registration
	if err := decode(c, &r); err != nil {
		return err
	}
	u, err := s.store.CreateUser(c.Request().Context(), store.Registration(r), store.RoleFan)
	if err != nil {
		return err
	}
	return s.signIn(c, http.StatusCreated, u)
}

func (s *Server) login(c echo.Context) error {
	var r struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := decode(c, &r); err != nil {
		return err
	}
	u, err := s.store.Authenticate(c.Request().Context(), r.Email, r.Password)
	if err != nil {
		return err
	}
	return s.signIn(c, http.StatusOK, u)
}

func (s *Server) signIn(c echo.Context, status int, u *store.User) error {
	token, err := s.store.CreateToken(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{
		Name: cookieName, Value: token, Path: "/", HttpOnly: true, Secure: s.secureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: int(store.TokenTTL.Seconds()),
	})
	return c.JSON(status, authResponse{User: userOf(u), Token: token})
}

// logout ends the token it was called with; without one it still clears the cookie.
func (s *Server) logout(c echo.Context) error {
	if token, ok := c.Get(tokenKey).(string); ok {
		if err := s.store.DeleteToken(c.Request().Context(), token); err != nil {
			return err
		}
		s.forgetToken(token)
	}
	c.SetCookie(&http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, Secure: s.secureCookies, MaxAge: -1})
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) me(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]userJSON{"user": userOf(currentUser(c))})
}
