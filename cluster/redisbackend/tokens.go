package redisbackend

import (
	"context"
	"fmt"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/redis/go-redis/v9"
)

type tokens struct{ b *Backend }

func (t tokens) put(ctx context.Context, tenant, user, tokenHash string, ttl time.Duration, max int, pwfp string) (int, error) {
	var px int64
	if ttl > 0 {
		px = ms(ttl)
	}
	n, err := tokenPut.Run(ctx, t.b.rdb, []string{tokenKey(tenant, user, tokenHash), persistentKey(tenant, user), passwordsKey(tenant)},
		time.Now().UnixMilli(), px, max, tokenUserPrefix(tenant, user), tokenHash, pwfp, user).Int()
	if err != nil {
		return 0, fmt.Errorf("redis backend: put token for %s/%s: %w", tenant, user, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("redis backend: put token for %s/%s: %w", tenant, user, cluster.ErrPasswordStale)
	}
	return n, nil
}

// Put stores a token hash for user; ttl 0 means persistent.
func (t tokens) Put(ctx context.Context, tenant, user, tokenHash string, ttl time.Duration) error {
	_, err := t.put(ctx, tenant, user, tokenHash, ttl, 0, "")
	return err
}

// PutPersistent stores a persistent token and evicts the oldest beyond max.
func (t tokens) PutPersistent(ctx context.Context, tenant, user, tokenHash string, max int) (int, error) {
	return t.put(ctx, tenant, user, tokenHash, 0, max, "")
}

// PutIssued stores a token issued under the password fingerprint pwfp,
// unless another fingerprint is the user's current one.
func (t tokens) PutIssued(ctx context.Context, tenant, user, tokenHash string, ttl time.Duration, max int, pwfp string) (int, error) {
	return t.put(ctx, tenant, user, tokenHash, ttl, max, pwfp)
}

// Check reports whether the token is valid and slides an expiring one.
func (t tokens) Check(ctx context.Context, tenant, user, tokenHash string, ttl time.Duration) (bool, error) {
	var slide int64
	if ttl > 0 {
		slide = ms(ttl)
	}
	n, err := tokenCheck.Run(ctx, t.b.rdb, []string{tokenKey(tenant, user, tokenHash), notBeforeKey(tenant), persistentKey(tenant, user), passwordsKey(tenant)},
		slide, user, tokenHash).Int64()
	if err != nil {
		return false, fmt.Errorf("redis backend: check token for %s/%s: %w", tenant, user, err)
	}
	return n == 1, nil
}

// Delete removes a token hash.
func (t tokens) Delete(ctx context.Context, tenant, user, tokenHash string) error {
	_, err := t.b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, tokenKey(tenant, user, tokenHash))
		p.ZRem(ctx, persistentKey(tenant, user), tokenHash)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis backend: delete token for %s/%s: %w", tenant, user, err)
	}
	return nil
}

// Persistent lists the user's persistent tokens, oldest first.
func (t tokens) Persistent(ctx context.Context, tenant, user string) ([]cluster.PersistentToken, error) {
	zs, err := t.b.rdb.ZRangeWithScores(ctx, persistentKey(tenant, user), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redis backend: list persistent tokens of %s/%s: %w", tenant, user, err)
	}
	out := make([]cluster.PersistentToken, 0, len(zs))
	for _, z := range zs {
		h, _ := z.Member.(string)
		out = append(out, cluster.PersistentToken{Hash: h, Created: time.UnixMilli(int64(z.Score))})
	}
	return out, nil
}

// RevokeUser deletes the user's persistent tokens and moves its not-before.
func (t tokens) RevokeUser(ctx context.Context, tenant, user string, at time.Time) (int, error) {
	n, err := tokenRevokeUser.Run(ctx, t.b.rdb, []string{notBeforeKey(tenant)}, tenantPrefix(tenant), user, at.UnixMilli()).Int()
	if err != nil {
		return 0, fmt.Errorf("redis backend: revoke tokens of %s/%s: %w", tenant, user, err)
	}
	return n, nil
}

// DenyJWT puts a JWT hash on the deny-list until exp.
func (t tokens) DenyJWT(ctx context.Context, tenant, tokenHash string, exp time.Time) error {
	ttl := time.Until(exp)
	if ttl <= 0 {
		return nil
	}
	if err := t.b.rdb.Set(ctx, jwtDenyKey(tenant, tokenHash), "1", time.Duration(ms(ttl))*time.Millisecond).Err(); err != nil {
		return fmt.Errorf("redis backend: deny JWT of %s: %w", tenant, err)
	}
	return nil
}

// CheckJWT reports whether a JWT is neither denied nor issued before the
// user's not-before, nor under a password that is no longer current.
func (t tokens) CheckJWT(ctx context.Context, tenant, user, tokenHash string, issued time.Time, pwfp string) (bool, error) {
	n, err := tokenCheckJWT.Run(ctx, t.b.rdb, []string{jwtDenyKey(tenant, tokenHash), notBeforeKey(tenant), passwordsKey(tenant)},
		user, issued.UnixMilli(), pwfp).Int64()
	if err != nil {
		return false, fmt.Errorf("redis backend: check JWT of %s/%s: %w", tenant, user, err)
	}
	return n == 1, nil
}
