package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Redis URL schemes: a single server (plain, TLS or a unix socket), a
// Sentinel-managed master (plain or TLS to both sentinels and master), or a
// Redis Cluster (plain or TLS to every node).
const (
	SchemeRedis         = "redis"
	SchemeRediss        = "rediss"
	SchemeUnix          = "unix"
	SchemeSentinel      = "redis+sentinel"
	SchemeSentinelTLS   = "rediss+sentinel"
	SchemeCluster       = "redis+cluster"
	SchemeClusterTLS    = "rediss+cluster"
	redisSchemesMessage = "redis://, rediss://, unix://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or rediss+cluster://"
)

// ClusterURL is a parsed redis+cluster:// URL:
// redis+cluster://[user:password@]host:port[,host:port...][/]. The hosts
// are seeds: go-redis' cluster client learns the other nodes and the slot
// map from them. A Redis Cluster has database 0 only.
type ClusterURL struct {
	TLS      bool
	Username string
	Password string
	Nodes    []string
}

// ParseClusterURL parses a redis+cluster:// or rediss+cluster:// URL. Its
// errors never contain the password.
func ParseClusterURL(raw string) (ClusterURL, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || (scheme != SchemeCluster && scheme != SchemeClusterTLS) {
		return ClusterURL{}, fmt.Errorf("not a %s:// URL", SchemeCluster)
	}
	m, err := parseHostList(rest, "node")
	if err != nil {
		return ClusterURL{}, err
	}
	if m.path != "" && m.path != "0" {
		return ClusterURL{}, fmt.Errorf("a Redis Cluster has database 0 only (got /%s)", m.path)
	}
	return ClusterURL{TLS: scheme == SchemeClusterTLS, Username: m.user, Password: m.password, Nodes: m.hosts}, nil
}

// hostList is the part after "://" of a multi-host URL.
type hostList struct {
	user, password string
	hosts          []string
	path           string // after the first '/', without it
}

// parseHostList parses [user[:password]@]host:port[,host:port...][/path];
// what names the hosts in errors (sentinel, node).
func parseHostList(rest, what string) (hostList, error) {
	var out hostList
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		return hostList{}, fmt.Errorf("query parameters are not supported (use the redis_* fields)")
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		userinfo := rest[:at]
		rest = rest[at+1:]
		u, p, hasPass := strings.Cut(userinfo, ":")
		var err error
		if out.user, err = url.PathUnescape(u); err != nil {
			return hostList{}, fmt.Errorf("bad escape in the user name")
		}
		if hasPass {
			if out.password, err = url.PathUnescape(p); err != nil {
				return hostList{}, fmt.Errorf("bad escape in the password")
			}
		}
	}
	hosts, path, _ := strings.Cut(rest, "/")
	for h := range strings.SplitSeq(hosts, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" {
			return hostList{}, fmt.Errorf("%s %q is not host:port", what, h)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return hostList{}, fmt.Errorf("%s %q has a bad port", what, h)
		}
		out.hosts = append(out.hosts, h)
	}
	out.path = path
	return out, nil
}

// SentinelURL is a parsed redis+sentinel:// URL:
// redis+sentinel://[user:password@]host:port[,host:port...]/master-name[/db].
// User and password are the master's (the data connection); the sentinels'
// own credentials are redis_sentinel_username / redis_sentinel_password.
type SentinelURL struct {
	TLS        bool
	Username   string
	Password   string
	Sentinels  []string
	MasterName string
	DB         int
}

// ParseSentinelURL parses a redis+sentinel:// or rediss+sentinel:// URL.
// Its errors never contain the password.
func ParseSentinelURL(raw string) (SentinelURL, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || (scheme != SchemeSentinel && scheme != SchemeSentinelTLS) {
		return SentinelURL{}, fmt.Errorf("not a %s:// URL", SchemeSentinel)
	}
	m, err := parseHostList(rest, "sentinel")
	if err != nil {
		return SentinelURL{}, err
	}
	out := SentinelURL{TLS: scheme == SchemeSentinelTLS, Username: m.user, Password: m.password, Sentinels: m.hosts}
	name, db, hasDB := strings.Cut(m.path, "/")
	if name == "" {
		return SentinelURL{}, fmt.Errorf("the master name is missing (…/master-name)")
	}
	out.MasterName = name
	if hasDB && db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return SentinelURL{}, fmt.Errorf("database %q is not a number", db)
		}
		out.DB = n
	}
	return out, nil
}

// RedisScheme returns redis_url's scheme ("" when redis_url is empty).
func (c *Config) RedisScheme() string {
	s, _, _ := strings.Cut(c.RedisURL, "://")
	return s
}

// RedisTLS reports whether redis_url asks for TLS (rediss://,
// rediss+sentinel:// or rediss+cluster://).
func (c *Config) RedisTLS() bool {
	switch c.RedisScheme() {
	case SchemeRediss, SchemeSentinelTLS, SchemeClusterTLS:
		return true
	}
	return false
}

// validateRedis checks redis_url and the redis_* fields; each error names
// its field and never shows a password.
func (c *Config) validateRedis() error {
	if c.RedisURL == "" {
		for _, f := range []struct{ name, v string }{
			{"redis_username", c.RedisUsername}, {"redis_password", c.RedisPassword}, {"redis_password_file", c.RedisPasswordFile},
			{"redis_sentinel_username", c.RedisSentinelUsername}, {"redis_sentinel_password", c.RedisSentinelPassword},
			{"redis_sentinel_password_file", c.RedisSentinelPasswordFile},
			{"redis_tls_ca_file", c.RedisTLSCAFile}, {"redis_tls_cert_file", c.RedisTLSCertFile}, {"redis_tls_key_file", c.RedisTLSKeyFile},
		} {
			if f.v != "" {
				return fmt.Errorf("%s: set, but redis_url is empty (a single node needs no Redis)", f.name)
			}
		}
		return nil
	}
	switch c.RedisScheme() {
	case SchemeRedis, SchemeRediss, SchemeUnix:
		if _, err := url.Parse(c.RedisURL); err != nil {
			return fmt.Errorf("redis_url: %s is not a valid URL", RedactURL(c.RedisURL))
		}
	case SchemeSentinel, SchemeSentinelTLS:
		if _, err := ParseSentinelURL(c.RedisURL); err != nil {
			return fmt.Errorf("redis_url: %s: %w", RedactURL(c.RedisURL), err)
		}
	case SchemeCluster, SchemeClusterTLS:
		if _, err := ParseClusterURL(c.RedisURL); err != nil {
			return fmt.Errorf("redis_url: %s: %w", RedactURL(c.RedisURL), err)
		}
	default:
		return fmt.Errorf("redis_url: %s must start with %s", RedactURL(c.RedisURL), redisSchemesMessage)
	}
	if c.RedisPassword != "" && c.RedisPasswordFile != "" {
		return fmt.Errorf("redis_password: set redis_password or redis_password_file, not both")
	}
	if c.RedisSentinelPassword != "" && c.RedisSentinelPasswordFile != "" {
		return fmt.Errorf("redis_sentinel_password: set redis_sentinel_password or redis_sentinel_password_file, not both")
	}
	sentinel := strings.HasSuffix(c.RedisScheme(), "+sentinel")
	if !sentinel && (c.RedisSentinelUsername != "" || c.RedisSentinelPassword != "" || c.RedisSentinelPasswordFile != "") {
		return fmt.Errorf("redis_sentinel_password: only for a redis+sentinel:// or rediss+sentinel:// redis_url")
	}
	if !c.RedisTLS() && (c.RedisTLSCAFile != "" || c.RedisTLSCertFile != "" || c.RedisTLSKeyFile != "") {
		return fmt.Errorf("redis_tls_ca_file: TLS files need a rediss://, rediss+sentinel:// or rediss+cluster:// redis_url")
	}
	if (c.RedisTLSCertFile == "") != (c.RedisTLSKeyFile == "") {
		return fmt.Errorf("redis_tls_cert_file: set both redis_tls_cert_file and redis_tls_key_file, or neither")
	}
	return nil
}

// loadRedisFiles resolves the redis_* file paths with abs and reads the
// password files (trailing white space trimmed).
func (c *Config) loadRedisFiles(abs func(string) string) error {
	c.RedisPasswordFile = abs(c.RedisPasswordFile)
	c.RedisSentinelPasswordFile = abs(c.RedisSentinelPasswordFile)
	c.RedisTLSCAFile = abs(c.RedisTLSCAFile)
	c.RedisTLSCertFile = abs(c.RedisTLSCertFile)
	c.RedisTLSKeyFile = abs(c.RedisTLSKeyFile)
	for _, f := range []struct {
		name, path string
		dst        *string
	}{
		{"redis_password_file", c.RedisPasswordFile, &c.RedisPassword},
		{"redis_sentinel_password_file", c.RedisSentinelPasswordFile, &c.RedisSentinelPassword},
	} {
		if f.path == "" {
			continue
		}
		b, err := os.ReadFile(f.path)
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		*f.dst = strings.TrimSpace(string(b))
		if *f.dst == "" {
			return fmt.Errorf("%s: %s is empty", f.name, f.path)
		}
	}
	for _, f := range []struct{ name, path string }{
		{"redis_tls_ca_file", c.RedisTLSCAFile}, {"redis_tls_cert_file", c.RedisTLSCertFile}, {"redis_tls_key_file", c.RedisTLSKeyFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return nil
}
