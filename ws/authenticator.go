package ws

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/internal/clip"
	"github.com/ctiws/ctiws/ws/auth"
)

// authenticator checks the credentials of socket logins and REST requests
// (legacy tokens and JWTs) and counts and logs the refusals. The socket
// layer and the REST API share one.
type authenticator struct {
	tokens  cluster.Tokens
	metrics *Metrics
	log     *slog.Logger
	// loginLog bounds the failed-login log lines per tenant.
	loginLog *logBudget
	// tokenTTL slides a legacy token's expiry on each use
	// (Options.TokenTTL).
	tokenTTL time.Duration
	// jwtMaxLifetime is the longest exp - iat of a JWT
	// (Options.JWTMaxLifetime).
	jwtMaxLifetime time.Duration
	// jwtClockSkew is how far in the future iat and nbf may lie
	// (Options.JWTClockSkew).
	jwtClockSkew time.Duration
}

// authenticate checks accessKey/token for a tenant and returns the user.
// user is nil when authentication is disabled and the user is unknown.
func (au *authenticator) authenticate(ctx context.Context, t *Tenant, accessKey, token string) (*directory.User, string, error) {
	cfg := t.Config()
	user, known := cfg.Directory.User(accessKey)
	username := strings.ToLower(accessKey)
	if known {
		username = strings.ToLower(user.Username)
	}
	if !cfg.AuthEnabled {
		if !known {
			user = nil
		}
		return user, username, nil
	}
	if !known {
		// The same token-store round trip as for a known user, so that
		// the answer's timing does not tell which users exist.
		_, _ = au.tokens.Check(ctx, t.ID, username, auth.HashToken(token), 0)
		return nil, "", errUnknownUser
	}
	if auth.LooksLikeJWT(token) && len(cfg.JWTSecret) > 0 {
		owner, _, err := au.verifyJWT(ctx, t, token)
		if err != nil {
			return nil, "", err
		}
		if owner != user {
			return nil, "", errJWTOtherUser
		}
		return user, username, nil
	}
	ok, err := au.tokens.Check(ctx, t.ID, username, auth.HashToken(token), au.tokenTTL)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", errBadToken
	}
	return user, username, nil
}

// jwtPolicy is what tenant t requires of a JWT now.
func (au *authenticator) jwtPolicy(t *Tenant, cfg *TenantConfig) auth.JWTPolicy {
	return auth.JWTPolicy{
		Secrets:     [][]byte{cfg.JWTSecret, cfg.JWTPreviousSecret},
		Tenant:      t.ID,
		MaxLifetime: au.jwtMaxLifetime,
		ClockSkew:   au.jwtClockSkew,
		Now:         time.Now(),
	}
}

// verifyJWT verifies a JWT for tenant t (signature, lifetime, audience,
// 2FA claims), resolves its user and checks that it is not revoked
// cluster-wide (logout deny-list, password-change not-before).
func (au *authenticator) verifyJWT(ctx context.Context, t *Tenant, token string) (*directory.User, auth.JWTClaims, error) {
	cfg := t.Config()
	c, err := auth.VerifyJWT(token, au.jwtPolicy(t, cfg))
	if err != nil {
		return nil, c, err
	}
	u, ok := cfg.Directory.User(c.User)
	if !ok {
		return nil, c, errUnknownUser
	}
	valid, err := au.tokens.CheckJWT(ctx, t.ID, strings.ToLower(u.Username), auth.HashToken(token), c.IssuedAt, c.Password)
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
func (au *authenticator) loginFailed(t *Tenant, kind, user string, err error, args ...any) {
	reason := failureReason(err)
	au.metrics.LoginFailures.WithLabelValues(t.ID, reason).Inc()
	ok, suppressed := au.loginLog.allow(t.ID, time.Now())
	if suppressed > 0 {
		au.log.Warn("failed-login log lines suppressed", "tenant", t.ID, "count", suppressed)
	}
	if !ok {
		au.metrics.LoginLogsSuppressed.WithLabelValues(t.ID).Inc()
		return
	}
	au.log.Info(kind+" refused", append([]any{"tenant", t.ID, "user", clip.String(user, 64), "reason", reason, "why", err.Error()}, args...)...)
}
