package ws

import (
	"context"
	"strings"
	"time"

	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/internal/clip"
	"github.com/ctiws/ctiws/ws/auth"
)

// reasonPasswordChanged closes the sockets of a user whose password was
// changed in the htpasswd file.
const reasonPasswordChanged = "password_changed"

// jwtPolicy is what tenant t requires of a JWT now.
func (s *Server) jwtPolicy(t *Tenant, cfg *TenantConfig) auth.JWTPolicy {
	return auth.JWTPolicy{
		Secrets:     [][]byte{cfg.JWTSecret, cfg.JWTPreviousSecret},
		Tenant:      t.ID,
		MaxLifetime: s.opts.JWTMaxLifetime,
		Now:         time.Now(),
	}
}

// verifyJWT verifies a JWT for tenant t (signature, lifetime, audience,
// 2FA claims), resolves its user and checks that it is not revoked
// cluster-wide (logout deny-list, password-change not-before).
func (s *Server) verifyJWT(ctx context.Context, t *Tenant, token string) (*directory.User, auth.JWTClaims, error) {
	cfg := t.Config()
	c, err := auth.VerifyJWT(token, s.jwtPolicy(t, cfg))
	if err != nil {
		return nil, c, err
	}
	u, ok := cfg.Directory.User(c.User)
	if !ok {
		return nil, c, errUnknownUser
	}
	valid, err := s.backend.Tokens.CheckJWT(ctx, t.ID, strings.ToLower(u.Username), auth.HashToken(token), c.IssuedAt)
	if err != nil {
		return nil, c, err
	}
	if !valid {
		return nil, c, errJWTRevoked
	}
	return u, c, nil
}

// loginFailed counts a refused login and logs it within the per-tenant log
// budget.
func (s *Server) loginFailed(t *Tenant, kind, user string, err error, args ...any) {
	reason := failureReason(err)
	s.metrics.LoginFailures.WithLabelValues(t.ID, reason).Inc()
	ok, suppressed := s.loginLog.allow(t.ID, time.Now())
	if suppressed > 0 {
		s.log.Warn("failed-login log lines suppressed", "tenant", t.ID, "count", suppressed)
	}
	if !ok {
		s.metrics.LoginLogsSuppressed.WithLabelValues(t.ID).Inc()
		return
	}
	s.log.Info(kind+" refused", append([]any{"tenant", t.ID, "user", clip.String(user, 64), "reason", reason, "why", err.Error()}, args...)...)
}

// syncPasswords tells the cluster the tenant's current password
// fingerprints; users whose password changed since (on any node) get every
// token revoked. Tenants without an htpasswd file are skipped.
func (s *Server) syncPasswords(ctx context.Context, t *Tenant, cfg *TenantConfig) {
	if !cfg.AuthEnabled || cfg.Htpasswd == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	revoked, err := s.backend.Tokens.SyncPasswords(ctx, t.ID, cfg.Htpasswd.Fingerprints(), time.Now())
	if err != nil {
		s.log.Error("password change check failed: tokens of users whose password changed are not revoked until the next reload", "tenant", t.ID, "err", err)
		return
	}
	for _, u := range revoked {
		s.metrics.TokensRevoked.WithLabelValues(t.ID, "password_change").Inc()
		s.log.Info("password changed or user removed: every token of the user revoked", "tenant", t.ID, "user", u)
	}
}

// closeChangedUsers closes this node's sockets of users whose password
// changed (or who left the htpasswd file) between two configurations.
func (s *Server) closeChangedUsers(t *Tenant, old, next *TenantConfig) {
	if !next.AuthEnabled || old.Htpasswd == nil {
		return
	}
	changed := map[string]bool{}
	for _, u := range auth.ChangedUsers(old.Htpasswd, next.Htpasswd) {
		changed[u] = true
	}
	if len(changed) == 0 {
		return
	}
	for _, c := range s.snapshotConns() {
		if l := c.currentLogin(); c.tenant == t && l != nil && changed[l.username] {
			c.closeTransport(reasonPasswordChanged)
		}
	}
}
