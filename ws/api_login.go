package ws

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ctiws/ctiws/cluster/directory"
	"github.com/ctiws/ctiws/ws/auth"
)

// apiJWTLifetime is how long a JWT from POST /api/login is valid: the
// middleware's two weeks.
const apiJWTLifetime = 14 * 24 * time.Hour

// mintAPIJWT signs the JWT POST /api/login answers with, carrying the
// middleware's claims: id, 2fa, otp_verified (ctiws has no second factor:
// both false), profile_id, iat and exp.
func mintAPIJWT(cfg *TenantConfig, u *directory.User, now time.Time) (string, time.Time, error) {
	exp := now.Add(apiJWTLifetime)
	claims := jwt.MapClaims{
		"id":           strings.ToLower(u.Username),
		"2fa":          false,
		"otp_verified": false,
		"iat":          now.Unix(),
		"exp":          exp.Unix(),
	}
	if u.ProfileID != "" {
		claims["profile_id"] = u.ProfileID
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(cfg.JWTSecret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign API JWT: %w", err)
	}
	return tok, time.Unix(exp.Unix(), 0).UTC(), nil
}

// apiLogin implements POST /api/login: {"username","password"} →
// {"code":200,"expire":"<RFC 3339>","token":"<JWT>"}, or the middleware's
// 401 body.
func (s *Server) apiLogin(w http.ResponseWriter, r *http.Request, t *Tenant) {
	var body struct {
		Username any `json:"username"`
		Password any `json:"password"`
	}
	if err := decodeBody(r, &body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": http.StatusBadRequest, "message": err.Error(), "data": nil})
		return
	}
	username, ok1 := body.Username.(string)
	password, ok2 := body.Password.(string)
	cfg := t.Config()
	if !ok1 || !ok2 || username == "" || password == "" {
		s.apiLoginRefused(w, t, username, "missing username or password")
		return
	}
	if len(cfg.JWTSecret) == 0 {
		s.metrics.Logins.WithLabelValues(t.ID, "api_unavailable").Inc()
		s.log.Warn("API login impossible: the tenant has no jwt_secret", "tenant", t.ID)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"code": http.StatusServiceUnavailable, "message": "JWT login not configured", "data": nil})
		return
	}
	user, known := cfg.Directory.User(username)
	if !known {
		// Spend a bcrypt check anyway: unknown and known users answer alike.
		if cfg.AuthEnabled {
			s.checkPassword(r, cfg, username, password)
		}
		s.apiLoginRefused(w, t, username, "unknown user")
		return
	}
	if cfg.AuthEnabled {
		good, err := s.checkPassword(r, cfg, user.Username, password)
		if err != nil {
			return // the client went away
		}
		if !good {
			s.apiLoginRefused(w, t, username, "wrong password")
			return
		}
	}
	tok, exp, err := mintAPIJWT(cfg, user, time.Now())
	if err != nil {
		s.log.Error("API login failed", "tenant", t.ID, "err", err)
		writeError(w, http.StatusInternalServerError, "cannot issue token")
		return
	}
	s.metrics.Logins.WithLabelValues(t.ID, "api_ok").Inc()
	writeJSON(w, http.StatusOK, map[string]any{"code": http.StatusOK, "expire": exp.Format(time.RFC3339), "token": tok})
}

// checkPassword runs one bounded bcrypt check.
func (s *Server) checkPassword(r *http.Request, cfg *TenantConfig, username, password string) (bool, error) {
	select {
	case s.bcrypt <- struct{}{}:
	case <-r.Context().Done():
		return false, r.Context().Err()
	}
	defer func() { <-s.bcrypt }()
	return cfg.Htpasswd.Check(username, password), nil
}

func (s *Server) apiLoginRefused(w http.ResponseWriter, t *Tenant, username, why string) {
	s.metrics.Logins.WithLabelValues(t.ID, "api_refused").Inc()
	s.log.Info("API login refused", "tenant", t.ID, "user", truncate(username, 64), "why", why)
	apiUnauthorized(w, "incorrect Username or Password")
}

// apiLogout implements POST /api/logout: a valid Bearer JWT answers
// {"code":200}. JWTs are not stored, so the token stays valid until it
// expires (docs/compatibility.md).
func (s *Server) apiLogout(w http.ResponseWriter, r *http.Request, t *Tenant) {
	tok, ok := bearer(r)
	if !ok {
		apiUnauthorized(w, "auth header is empty")
		return
	}
	if _, err := auth.VerifyJWT(tok, t.Config().JWTSecret, time.Now()); err != nil {
		if !errors.Is(err, auth.ErrJWT) {
			writeError(w, http.StatusInternalServerError, "token check failed")
			return
		}
		apiUnauthorized(w, "invalid token")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": http.StatusOK})
}
