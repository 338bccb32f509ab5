package ws

import (
	"context"
	"time"

	"github.com/ctiws/ctiws/internal/periodic"
)

// refreshTokens slides the expiry of the tokens of open sockets, every
// token_ttl/2, so a token never expires while a socket logged in with it is
// open (docs/protocol.md, section 2.2).
func (s *Server) refreshTokens(ctx context.Context) {
	periodic.Every(ctx, s.opts.TokenTTL/2, func(ctx context.Context) {
		seen := map[string]bool{}
		for _, c := range s.snapshotConns() {
			l := c.currentLogin()
			if l == nil || seen[l.tokenHash] {
				continue
			}
			seen[l.tokenHash] = true
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if _, err := s.backend.Tokens.Check(cctx, c.tenant.ID, l.username, l.tokenHash, s.opts.TokenTTL); err != nil {
				s.log.Warn("token refresh failed", "tenant", c.tenant.ID, "err", err)
			}
			cancel()
		}
	})
}
