package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/ctiws/ctiws/cmd/ctiws/internal/config"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// redisPool describes one of a node's Redis clients.
type redisPool struct {
	// size and minIdle are the pool size and idle connections (0, 0:
	// go-redis defaults).
	size, minIdle int
	// deadlines makes the callers' context deadlines bound the socket
	// reads and writes (go-redis ContextTimeoutEnabled), so a call on a
	// dead link ends at its deadline; without it go-redis' own 5 s read
	// and write timeouts do, whatever the deadline. The lease client needs
	// it: a renewal must end by its owner's step-down deadline
	// (docs/cluster.md, "One owner at a time").
	deadlines bool
	// warm keeps all size connections open and ready: dialled ahead,
	// used in turn (FIFO, so none waits unused with its handshake still
	// to do: go-redis runs HELLO on a connection's first use), pipelines
	// on them too (go-redis' separate pipeline pool never dials ahead), and
	// a new connection's handshake one round trip (no CLIENT SETINFO, no
	// CLIENT MAINT_NOTIFICATIONS). A call on a slow link then does not pay
	// for a handshake within its deadline.
	warm bool
}

// poolOptions are the fields of go-redis' Options, FailoverOptions and
// ClusterOptions that redisPool sets.
type poolOptions struct {
	size, minIdle, pipelinePool *int
	deadlines, fifo, noIdentity *bool
	maint                       **maintnotifications.Config
}

// apply sets p on a client's options.
func (p redisPool) apply(o poolOptions) {
	*o.size, *o.minIdle, *o.deadlines = p.size, p.minIdle, p.deadlines
	if p.warm {
		*o.minIdle, *o.pipelinePool, *o.fifo, *o.noIdentity = p.size, -1, true, true
		if o.maint != nil {
			*o.maint = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
		}
	}
}

// redisClientFactory turns redis_url and the redis_* fields into a
// function returning a new client for a pool (redisPool). A Sentinel URL
// gives go-redis' failover clients: they ask the sentinels for the master,
// follow its promotions and reconnect by themselves. A Cluster URL gives
// go-redis' cluster clients: they learn the slot map from the seed nodes,
// route each command to its slot's master, follow MOVED/ASK and reload the
// map after a failover (pool and minIdle are then per cluster node).
// Errors never show a password.
func redisClientFactory(cfg *config.Config) (func(redisPool) redis.UniversalClient, error) {
	tlsConf, err := redisTLS(cfg)
	if err != nil {
		return nil, err
	}
	name := "ctiws-" + cfg.NodeID
	switch cfg.RedisScheme() {
	case config.SchemeSentinel, config.SchemeSentinelTLS:
		su, err := config.ParseSentinelURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("redis_url %s: %w", config.RedactURL(cfg.RedisURL), err)
		}
		base := redis.FailoverOptions{
			MasterName:       su.MasterName,
			SentinelAddrs:    su.Sentinels,
			SentinelUsername: cfg.RedisSentinelUsername,
			SentinelPassword: cfg.RedisSentinelPassword,
			Username:         su.Username,
			Password:         su.Password,
			DB:               su.DB,
			ClientName:       name,
			TLSConfig:        tlsConf,
		}
		base.Username, base.Password = credentials(cfg, base.Username, base.Password)
		return func(p redisPool) redis.UniversalClient {
			o := base
			p.apply(poolOptions{&o.PoolSize, &o.MinIdleConns, &o.PipelinePoolSize, &o.ContextTimeoutEnabled, &o.PoolFIFO, &o.DisableIdentity, nil})
			return redis.NewFailoverClient(&o)
		}, nil
	case config.SchemeCluster, config.SchemeClusterTLS:
		cu, err := config.ParseClusterURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("redis_url %s: %w", config.RedactURL(cfg.RedisURL), err)
		}
		base := redis.ClusterOptions{
			Addrs:      cu.Nodes,
			Username:   cu.Username,
			Password:   cu.Password,
			ClientName: name,
			TLSConfig:  tlsConf,
		}
		base.Username, base.Password = credentials(cfg, base.Username, base.Password)
		return func(p redisPool) redis.UniversalClient {
			o := base
			p.apply(poolOptions{&o.PoolSize, &o.MinIdleConns, &o.PipelinePoolSize, &o.ContextTimeoutEnabled, &o.PoolFIFO, &o.DisableIdentity, &o.MaintNotificationsConfig})
			return redis.NewClusterClient(&o)
		}, nil
	default:
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, redisURLError(cfg.RedisURL, err)
		}
		opts.ClientName = name
		opts.Username, opts.Password = credentials(cfg, opts.Username, opts.Password)
		if tlsConf != nil {
			if opts.TLSConfig != nil {
				tlsConf.ServerName = opts.TLSConfig.ServerName
			}
			opts.TLSConfig = tlsConf
		}
		return func(p redisPool) redis.UniversalClient {
			o := *opts
			p.apply(poolOptions{&o.PoolSize, &o.MinIdleConns, &o.PipelinePoolSize, &o.ContextTimeoutEnabled, &o.PoolFIFO, &o.DisableIdentity, &o.MaintNotificationsConfig})
			return redis.NewClient(&o)
		}, nil
	}
}

// credentials returns the ACL user and password to log in with: those of
// the URL, each replaced by redis_username / redis_password(_file) when set.
func credentials(cfg *config.Config, user, password string) (string, string) {
	if cfg.RedisUsername != "" {
		user = cfg.RedisUsername
	}
	if cfg.RedisPassword != "" {
		password = cfg.RedisPassword
	}
	return user, password
}

// redisTLS builds the TLS configuration of a rediss://,
// rediss+sentinel:// or rediss+cluster:// URL: the system roots, or
// redis_tls_ca_file, and a client certificate when
// redis_tls_cert_file/redis_tls_key_file are set. It returns nil for a
// plain URL.
func redisTLS(cfg *config.Config) (*tls.Config, error) {
	if !cfg.RedisTLS() {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.RedisTLSCAFile != "" {
		pem, err := os.ReadFile(cfg.RedisTLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("redis_tls_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis_tls_ca_file: %s holds no PEM certificate", cfg.RedisTLSCAFile)
		}
		tc.RootCAs = pool
	}
	if cfg.RedisTLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.RedisTLSCertFile, cfg.RedisTLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("redis_tls_cert_file/redis_tls_key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
