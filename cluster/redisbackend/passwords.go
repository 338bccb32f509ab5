package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/redis/go-redis/v9"
)

// PasswordFingerprint returns the user's current password fingerprint.
func (t tokens) PasswordFingerprint(ctx context.Context, tenant, user string) (string, bool, error) {
	fp, err := t.b.rdb.HGet(ctx, passwordsKey(tenant), user).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("redis backend: password fingerprint of %s/%s: %w", tenant, user, err)
	}
	return fp, true, nil
}

// SyncPasswords publishes a node's password fingerprints; see
// cluster.Tokens.
func (t tokens) SyncPasswords(ctx context.Context, tenant string, previous, current map[string]string, at time.Time) (cluster.PasswordSync, error) {
	args := make([]any, 0, 4+2*len(current)+2*len(previous))
	args = append(args, tenantPrefix(tenant), strconv.FormatInt(at.UnixMilli(), 10), cluster.MaxRetiredPasswords, len(current))
	for u, fp := range current {
		args = append(args, u, fp)
	}
	for u, fp := range previous {
		args = append(args, u, fp)
	}
	res, err := tokenSyncPasswords.Run(ctx, t.b.rdb, []string{passwordsKey(tenant), notBeforeKey(tenant), retiredPasswordsKey(tenant)}, args...).Slice()
	if err != nil {
		return cluster.PasswordSync{}, fmt.Errorf("redis backend: sync passwords of %s: %w", tenant, err)
	}
	if len(res) != 2 {
		return cluster.PasswordSync{}, fmt.Errorf("redis backend: sync passwords of %s: unexpected answer %v", tenant, res)
	}
	out := cluster.PasswordSync{Revoked: stringsOf(res[0]), Stale: stringsOf(res[1])}
	sort.Strings(out.Revoked)
	sort.Strings(out.Stale)
	return out, nil
}

// stringsOf converts a script's array of strings.
func stringsOf(v any) []string {
	items, _ := v.([]any)
	var out []string
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
