package redisbackend

import (
	"context"
	"fmt"
	"time"
)

type tokens struct{ b *Backend }

// Put stores a token hash for user; ttl 0 means persistent.
func (t tokens) Put(ctx context.Context, tenant, user, tokenHash string, ttl time.Duration) error {
	var exp time.Duration
	if ttl > 0 {
		exp = time.Duration(ms(ttl)) * time.Millisecond
	}
	if err := t.b.rdb.Set(ctx, tokenKey(tenant, user, tokenHash), "1", exp).Err(); err != nil {
		return fmt.Errorf("redis backend: put token for %s/%s: %w", tenant, user, err)
	}
	return nil
}

// Check reports whether the token is valid and slides an expiring one.
func (t tokens) Check(ctx context.Context, tenant, user, tokenHash string, ttl time.Duration) (bool, error) {
	var slide int64
	if ttl > 0 {
		slide = ms(ttl)
	}
	n, err := tokenCheck.Run(ctx, t.b.rdb, []string{tokenKey(tenant, user, tokenHash)}, slide).Int64()
	if err != nil {
		return false, fmt.Errorf("redis backend: check token for %s/%s: %w", tenant, user, err)
	}
	return n == 1, nil
}

// Delete removes a token hash.
func (t tokens) Delete(ctx context.Context, tenant, user, tokenHash string) error {
	if err := t.b.rdb.Del(ctx, tokenKey(tenant, user, tokenHash)).Err(); err != nil {
		return fmt.Errorf("redis backend: delete token for %s/%s: %w", tenant, user, err)
	}
	return nil
}
