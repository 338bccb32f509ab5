package ws

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/ws/auth"
)

// restLogin implements POST /webrest/authentication/login (docs/protocol.md, section 2.2): success is
// HTTP 401 with `WWW-Authenticate: Digest <nonce>`.
//
// Password checks are throttled per user and per client address (429 with
// Retry-After, see LoginLimits), run in the tenant's share of the bcrypt
// pool (503 with Retry-After when its queue is full), and cost the same
// for unknown users as for wrong passwords.
func (s *Server) restLogin(w http.ResponseWriter, r *http.Request, t *Tenant) {
	var body struct {
		Username any `json:"username"`
		Password any `json:"password"`
	}
	if err := decodeBody(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	username, ok1 := body.Username.(string)
	password, ok2 := body.Password.(string)
	if !ok1 || !ok2 || username == "" || password == "" {
		s.metrics.Logins.WithLabelValues(t.ID, "rest_refused").Inc()
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	cfg := t.Config()
	user, known := cfg.Directory.User(username)
	if cfg.AuthEnabled && !s.checkPassword(w, r, t, cfg, user, username, password) {
		return
	}
	canonical := strings.ToLower(username)
	if known {
		canonical = strings.ToLower(user.Username)
	}
	nonce := auth.NewNonce()
	token := auth.LegacyToken(username, password, nonce)
	var err error
	if strings.EqualFold(r.Header.Get("auth-exp"), "no-exp") {
		var evicted int
		evicted, err = s.backend.Tokens.PutPersistent(r.Context(), t.ID, canonical, auth.HashToken(token), s.opts.MaxPersistentTokens)
		if evicted > 0 {
			s.metrics.TokensEvicted.WithLabelValues(t.ID).Add(float64(evicted))
			s.log.Info("persistent tokens evicted: user over max_persistent_tokens", "tenant", t.ID, "user", canonical, "evicted", evicted)
		}
	} else {
		err = s.backend.Tokens.Put(r.Context(), t.ID, canonical, auth.HashToken(token), s.opts.TokenTTL)
	}
	if err != nil {
		s.log.Error("token store failed", "tenant", t.ID, "err", err)
		writeError(w, http.StatusServiceUnavailable, "token store unavailable")
		return
	}
	s.metrics.Logins.WithLabelValues(t.ID, "rest_ok").Inc()
	w.Header().Set("WWW-Authenticate", "Digest "+nonce)
	writeError(w, http.StatusUnauthorized, "unauthorized")
}

// checkPassword runs the throttled, queued password check of a REST login
// and answers the refusals itself; true means the password is right.
func (s *Server) checkPassword(w http.ResponseWriter, r *http.Request, t *Tenant, cfg *TenantConfig, user *directory.User, username, password string) bool {
	now := time.Now()
	name := username
	if user != nil {
		name = user.Username
	}
	userKey := "u\x00" + t.ID + "\x00" + strings.ToLower(name)
	addrKey := "a\x00" + t.ID + "\x00" + addrKey(clientAddr(r, s.opts.TrustedProxies))
	scope, wait := "user", s.failures.wait(userKey, now)
	if aw := s.failures.wait(addrKey, now); aw > wait {
		scope, wait = "address", aw
	}
	if wait > 0 {
		s.metrics.Logins.WithLabelValues(t.ID, "rest_refused").Inc()
		s.metrics.LoginThrottled.WithLabelValues(t.ID, scope).Inc()
		s.loginFailed(t, "REST login", username, errLogin("too many failed logins: "+scope+" locked"), "retry_after", wait.Round(time.Second).String())
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		writeError(w, http.StatusTooManyRequests, "too many failed logins, retry later")
		return false
	}
	if err := s.bcrypt.acquire(r.Context(), t.ID); err != nil {
		if errors.Is(err, errBcryptBusy) {
			s.metrics.PasswordCheckBusy.WithLabelValues(t.ID).Inc()
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "too many logins in progress, retry later")
		}
		return false
	}
	// Unknown users are checked too (against a dummy hash of the file's
	// cost): the answer takes as long as for a wrong password.
	good := cfg.Htpasswd.Check(name, password)
	s.bcrypt.release()
	s.metrics.PasswordChecks.WithLabelValues(t.ID).Inc()
	if good && user != nil {
		s.failures.reset(userKey)
		return true
	}
	now = time.Now()
	s.failures.fail(userKey, s.opts.LoginLimits.FreeUser, now)
	s.failures.fail(addrKey, s.opts.LoginLimits.FreeAddress, now)
	s.metrics.Logins.WithLabelValues(t.ID, "rest_refused").Inc()
	why := errWrongPass
	if user == nil {
		why = errUnknownUser
	}
	s.loginFailed(t, "REST login", username, why)
	writeError(w, http.StatusUnauthorized, "unauthorized")
	return false
}

// restLogout implements POST /webrest/authentication/logout. A legacy token
// is deleted; a JWT (Bearer, or as the token of user:token) is put on the
// tenant's deny-list until its exp, cluster-wide.
func (s *Server) restLogout(w http.ResponseWriter, r *http.Request, t *Tenant) {
	h := r.Header.Get("Authorization")
	var name, token string
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		token = strings.TrimSpace(tok)
	} else {
		var ok bool
		name, token, ok = strings.Cut(h, ":")
		if !ok || name == "" || token == "" {
			s.loginFailed(t, "REST logout", name, errNoCreds)
			writeError(w, http.StatusUnauthorized, "unauthorized")
			return
		}
	}
	if name == "" || auth.LooksLikeJWT(token) && len(t.Config().JWTSecret) > 0 {
		s.logoutJWT(w, r, t, name, token)
		return
	}
	user, _, err := s.authenticate(r.Context(), t, name, token)
	if err != nil {
		s.loginFailed(t, "REST logout", name, err)
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	username := strings.ToLower(name)
	if user != nil {
		username = strings.ToLower(user.Username)
	}
	if err := s.backend.Tokens.Delete(r.Context(), t.ID, username, auth.HashToken(token)); err != nil {
		writeError(w, http.StatusServiceUnavailable, "token store unavailable")
		return
	}
	s.metrics.TokensRevoked.WithLabelValues(t.ID, "logout").Inc()
	writeJSON(w, http.StatusOK, map[string]string{"message": "logged out"})
}

// logoutJWT revokes a JWT until its exp; name, when given, must be its user.
func (s *Server) logoutJWT(w http.ResponseWriter, r *http.Request, t *Tenant, name, token string) {
	user, claims, err := s.verifyJWT(r.Context(), t, token)
	if err == nil && name != "" {
		if u, ok := t.Config().Directory.User(name); !ok || u != user {
			err = errJWTOtherUser
		}
	}
	if err != nil {
		if !refused(err) {
			writeError(w, http.StatusServiceUnavailable, "token store unavailable")
			return
		}
		s.loginFailed(t, "REST logout", name, err)
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	if err := s.backend.Tokens.DenyJWT(r.Context(), t.ID, auth.HashToken(token), claims.Expires); err != nil {
		writeError(w, http.StatusServiceUnavailable, "token store unavailable")
		return
	}
	s.metrics.TokensRevoked.WithLabelValues(t.ID, "logout").Inc()
	writeJSON(w, http.StatusOK, map[string]string{"message": "logged out"})
}
