package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// intField is one integer setting and its allowed range.
type intField struct {
	name     string
	v        int
	min, max int
}

// checkInts returns an error naming the first field outside its range.
func checkInts(fields []intField) error {
	for _, f := range fields {
		if f.v < f.min || f.v > f.max {
			return fmt.Errorf("%s: must be between %d and %d, got %d", f.name, f.min, f.max, f.v)
		}
	}
	return nil
}

// validateLimits checks the HTTP server limits and the user-to-user
// payload limits; each error names its field.
func (c *Config) validateLimits() error {
	timeouts := []struct {
		name string
		d    time.Duration
	}{
		{"http_read_timeout", c.HTTPReadTimeout}, {"http_write_timeout", c.HTTPWriteTimeout}, {"http_idle_timeout", c.HTTPIdleTimeout},
	}
	for _, t := range timeouts {
		if t.d < 100*time.Millisecond || t.d > 10*time.Minute {
			return fmt.Errorf("%s: must be between 100ms and 10m, got %v", t.name, t.d)
		}
	}
	if err := checkInts([]intField{
		{"http_max_header_bytes", c.HTTPMaxHeaderBytes, 1024, 1 << 20},
		{"max_avatar_bytes", c.MaxAvatarBytes, 1024, 700 << 10},
		{"max_avatar_dimension", c.MaxAvatarDimension, 16, 4096},
		{"max_postit_bytes", c.MaxPostitBytes, 64, 64 << 10},
		{"relay_max_bytes", c.RelayMaxBytes, 256, 64 << 10},
		{"relay_rate", c.RelayRate, 1, 1000},
		{"relay_burst", c.RelayBurst, 1, 10000},
		{"relay_disconnect_after", c.RelayDisconnectAfter, 1, 1000000},
		{"user_relay_burst", c.UserRelayBurst, 1, 100000},
		{"user_postit_burst", c.UserPostitBurst, 1, 100000},
		{"user_avatar_burst", c.UserAvatarBurst, 1, 100000},
		{"user_presence_burst", c.UserPresenceBurst, 1, 100000},
		{"max_sockets_per_user", c.MaxSocketsPerUser, 1, 10000},
		{"max_pending_commands_per_user", c.MaxPendingCommandsPerUser, 1, 100},
		{"max_concurrent_commands", c.MaxConcurrentCommands, 1, 1000},
	}); err != nil {
		return err
	}
	rates := []struct {
		name string
		v    float64
	}{
		{"user_relay_rate", c.UserRelayRate}, {"user_postit_rate", c.UserPostitRate},
		{"user_avatar_rate", c.UserAvatarRate}, {"user_presence_rate", c.UserPresenceRate},
	}
	for _, r := range rates {
		if r.v < 0.001 || r.v > 10000 {
			return fmt.Errorf("%s: must be between 0.001 and 10000 per second, got %v", r.name, r.v)
		}
	}
	return nil
}

// RedactURL returns u with its passwords replaced by "xxxxx", for errors
// and logs: the userinfo password and the value of every query parameter
// whose name contains "pass" in any case (`?password=`,
// `sentinel_password=`, …). A URL that does not parse is redacted too:
// everything between the scheme and the last '@' after the user name, and
// the query parameters likewise.
func RedactURL(u string) string {
	u = redactQuery(u)
	if p, err := url.Parse(u); err == nil && p.Opaque == "" {
		return p.Redacted()
	}
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		scheme, rest = "", u
	} else {
		scheme += "://"
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return u
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return u
	}
	return scheme + user + ":xxxxx@" + rest[at+1:]
}

// redactQuery replaces the value of every query parameter of u whose name
// (unescaped when it can be) contains "pass" with "xxxxx". It works on the
// raw text, so that a URL that does not parse is redacted as well; the
// query is what follows the first '?' (up to a '#').
func redactQuery(u string) string {
	head, query, ok := strings.Cut(u, "?")
	if !ok {
		return u
	}
	query, frag, hasFrag := strings.Cut(query, "#")
	params := strings.Split(query, "&")
	for i, kv := range params {
		k, _, hasValue := strings.Cut(kv, "=")
		name := k
		if un, err := url.QueryUnescape(k); err == nil {
			name = un
		}
		if hasValue && strings.Contains(strings.ToLower(name), "pass") {
			params[i] = k + "=xxxxx"
		}
	}
	out := head + "?" + strings.Join(params, "&")
	if hasFrag {
		out += "#" + frag
	}
	return out
}
