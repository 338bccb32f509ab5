package ws

import (
	"context"
	"time"

	"github.com/ctiws/ctiws/ws/auth"
)

// reasonPasswordChanged closes the sockets of a user whose password was
// changed in the htpasswd file.
const reasonPasswordChanged = "password_changed"

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
