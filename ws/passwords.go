package ws

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/internal/clip"
	"github.com/ctiws/ctiws/ws/auth"
)

// reasonPasswordChanged closes the sockets of a user whose password was
// changed in the htpasswd file.
const reasonPasswordChanged = "password_changed"

// syncPasswords publishes the tenant's password fingerprints to the
// cluster (docs/security.md, section 4): users whose password changed or
// who were removed get every token revoked, and every node closes their
// sockets; users whose hash here is one the cluster replaced (this node's
// file is older) are logged and counted, and their password logins are
// refused by the token store. Tenants without an htpasswd file are
// skipped.
func (s *Server) syncPasswords(ctx context.Context, t *Tenant, cfg *TenantConfig) {
	if !cfg.AuthEnabled || cfg.Htpasswd == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	current := cfg.Htpasswd.Fingerprints()
	var previous map[string]string
	if p := t.passwords.Load(); p != nil {
		previous = *p
	}
	res, err := s.backend.Tokens.SyncPasswords(ctx, t.ID, previous, current, time.Now())
	if err != nil {
		s.log.Error("password change check failed: retried with the next heartbeat; until then tokens of users whose password changed are not revoked", "tenant", t.ID, "err", err)
		t.passwordsPending.Store(true)
		return
	}
	t.passwordsPending.Store(false)
	t.passwords.Store(&current)
	s.metrics.StalePasswords.WithLabelValues(t.ID).Set(float64(len(res.Stale)))
	if len(res.Stale) > 0 {
		s.log.Warn("htpasswd file older than the cluster's: the password logins of these users are refused on this node until the file is updated",
			"tenant", t.ID, "users", clip.String(strings.Join(res.Stale, ","), 256), "count", len(res.Stale))
	}
	for _, u := range res.Revoked {
		s.metrics.TokensRevoked.WithLabelValues(t.ID, "password_change").Inc()
		s.log.Info("password changed or user removed: every token of the user revoked", "tenant", t.ID, "user", u)
		// Every node (this one included) closes the user's sockets.
		ev := cluster.Event{Tenant: t.ID, Name: evPasswordChanged, Target: u, Origin: s.opts.NodeID}
		if err := s.backend.Bus.Publish(ctx, ev); err != nil {
			s.log.Warn("password change not announced: other nodes keep the user's open sockets", "tenant", t.ID, "user", u, "err", err)
		}
	}
}

// closeChangedUsers closes this node's sockets of users whose password
// changed (or who left the htpasswd file) between two configurations. The
// other nodes close theirs on the passwordChanged event of syncPasswords;
// this does not wait for the bus.
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

// currentPassword returns the fingerprint of the user's hash in this
// node's htpasswd, after checking that it is the cluster's current one:
// errPasswordStale when the store holds another (this node's file is older,
// or newer and not yet published). A token is issued only under the
// current one.
func (a *restAPI) currentPassword(ctx context.Context, t *Tenant, cfg *TenantConfig, u *directory.User) (string, error) {
	user := strings.ToLower(u.Username)
	fp, ok := cfg.Htpasswd.Fingerprint(user)
	if !ok {
		return "", errUnknownUser
	}
	cur, known, err := a.tokens.PasswordFingerprint(ctx, t.ID, user)
	if err != nil {
		return "", fmt.Errorf("password of %s: %w", user, err)
	}
	if known && cur != fp {
		return "", errPasswordStale
	}
	return fp, nil
}

// refuseStale counts and logs a password login refused because this
// node's hash of the user is not the cluster's, and asks for the file to
// be read again.
func (a *restAPI) refuseStale(t *Tenant, kind, user string) {
	result := "rest_refused"
	if kind == "API login" {
		result = "api_refused"
	}
	a.metrics.Logins.WithLabelValues(t.ID, result).Inc()
	a.auth.loginFailed(t, kind, user, errPasswordStale)
	if a.passwordStale != nil {
		a.passwordStale(t.ID)
	}
}
