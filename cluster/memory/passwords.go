package memory

import (
	"context"
	"slices"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

// passwordCurrentLocked reports whether a token issued under the password
// fingerprint pwfp is still valid: pwfp is "" (not bound to a password),
// the store knows no fingerprint of the user, or pwfp is the current one.
func (t *tokens) passwordCurrentLocked(tenant, user, pwfp string) bool {
	if pwfp == "" {
		return true
	}
	cur, known := t.passwords[userKey{tenant, user}]
	return !known || cur == pwfp
}

// PutIssued stores a token issued under the password fingerprint pwfp,
// unless another fingerprint is the user's current one.
func (t *tokens) PutIssued(_ context.Context, tenant, user, tokenHash string, ttl time.Duration, max int, pwfp string) (int, error) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.passwordCurrentLocked(tenant, user, pwfp) {
		return 0, cluster.ErrPasswordStale
	}
	return t.putLocked(now, tenant, user, tokenHash, ttl, max, pwfp), nil
}

// PasswordFingerprint returns the user's current password fingerprint.
func (t *tokens) PasswordFingerprint(_ context.Context, tenant, user string) (string, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fp, known := t.passwords[userKey{tenant, user}]
	return fp, known, nil
}

// SyncPasswords publishes a node's password fingerprints; see
// cluster.Tokens.
func (t *tokens) SyncPasswords(_ context.Context, tenant string, previous, current map[string]string, at time.Time) (cluster.PasswordSync, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out cluster.PasswordSync
	for user, fp := range current {
		uk := userKey{tenant, user}
		cur, known := t.passwords[uk]
		switch {
		case known && cur == fp:
		case slices.Contains(t.retired[uk], fp):
			out.Stale = append(out.Stale, user)
		case !known:
			t.passwords[uk] = fp
		default:
			t.retireLocked(uk, cur, fp)
			t.revokeLocked(tenant, user, at)
			out.Revoked = append(out.Revoked, user)
		}
	}
	for uk, cur := range t.passwords {
		if uk.tenant != tenant || cur == "" {
			continue
		}
		if _, listed := current[uk.user]; listed {
			continue
		}
		if prev, ok := previous[uk.user]; ok && prev == cur {
			t.retireLocked(uk, cur, "")
			t.revokeLocked(tenant, uk.user, at)
			out.Revoked = append(out.Revoked, uk.user)
		}
	}
	slices.Sort(out.Revoked)
	slices.Sort(out.Stale)
	return out, nil
}

// retireLocked makes next the user's current fingerprint ("" removed) and
// remembers cur among the retired ones (at most cluster.MaxRetiredPasswords).
func (t *tokens) retireLocked(uk userKey, cur, next string) {
	if cur != "" {
		r := append(t.retired[uk], cur)
		if len(r) > cluster.MaxRetiredPasswords {
			r = r[len(r)-cluster.MaxRetiredPasswords:]
		}
		t.retired[uk] = r
	}
	t.passwords[uk] = next
}
