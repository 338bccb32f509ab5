package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster/clustertest/redisserver"
	redisbackend "github.com/ctiws/ctiws/cluster/redisbackend"
	"github.com/ctiws/ctiws/cmd/ctiws/internal/config"
	"github.com/redis/go-redis/v9"
)

// TestRedisClientForms connects through every redis_url form with an ACL
// user holding only redisbackend.ACLRules (in the URL, in the fields),
// directly and through a Sentinel that has its own ACL user; a wrong
// password fails without showing it.
func TestRedisClientForms(t *testing.T) {
	master := redisserver.Start(t)
	if r, err := master.Do("ACL SETUSER ctiws on >data-pw " + redisbackend.ACLRules); err != nil || r != "+OK" {
		t.Fatalf("acl setuser: %q %v", r, err)
	}
	// The sentinels' own user: what go-redis' failover client sends them.
	sentinelUser := "user ctiws-sentinel on >sentinel-pw " + redisbackend.SentinelACLRules
	s := redisserver.StartSentinel(t, "m", master, 1, 5*time.Second, sentinelUser)
	cases := []struct {
		name string
		cfg  config.Config
		err  bool
	}{
		{"url credentials", config.Config{RedisURL: "redis://ctiws:data-pw@" + master.Addr() + "/0"}, false},
		{"fields", config.Config{RedisURL: "redis://" + master.Addr() + "/0", RedisUsername: "ctiws", RedisPassword: "data-pw"}, false},
		{"field password wins over the url's", config.Config{RedisURL: "redis://ctiws:old@" + master.Addr() + "/0", RedisPassword: "data-pw"}, false},
		{"sentinel, url credentials", config.Config{RedisURL: "redis+sentinel://ctiws:data-pw@" + s.Addr() + "/m",
			RedisSentinelUsername: "ctiws-sentinel", RedisSentinelPassword: "sentinel-pw"}, false},
		{"sentinel, fields", config.Config{RedisURL: "redis+sentinel://" + s.Addr() + "/m", RedisUsername: "ctiws", RedisPassword: "data-pw",
			RedisSentinelUsername: "ctiws-sentinel", RedisSentinelPassword: "sentinel-pw"}, false},
		{"wrong password", config.Config{RedisURL: "redis://ctiws:wrong-pw@" + master.Addr() + "/0"}, true},
		{"sentinel, wrong sentinel password", config.Config{RedisURL: "redis+sentinel://ctiws:data-pw@" + s.Addr() + "/m",
			RedisSentinelUsername: "ctiws-sentinel", RedisSentinelPassword: "wrong-pw"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.NodeID = "n1"
			newClient, err := redisClientFactory(&c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, pool := range []redisPool{{}, {size: 4, deadlines: true, warm: true}, {size: 16}} { // main, lease, blocking
				rdb := newClient(pool)
				err := rdb.Set(ctx, "ctiws:probe", "1", time.Minute).Err()
				_ = rdb.Close()
				if c.err {
					if err == nil {
						t.Fatal("connected with a wrong password")
					}
					if strings.Contains(err.Error(), "wrong-pw") || strings.Contains(err.Error(), "data-pw") {
						t.Fatalf("the error shows a password: %v", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("pool %v: %v", pool, err)
				}
			}
			if r, _ := master.Do("CLIENT LIST"); r == "" {
				t.Fatal("no client list")
			}
		})
	}
}

// TestRedisClientTLSFiles: TLS files are read at start; a bad one is
// named.
func TestRedisClientTLSFiles(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cfg  config.Config
		want string
	}{
		{config.Config{RedisURL: "rediss://u:topsecret@h:6380/0", RedisTLSCAFile: bad}, "redis_tls_ca_file"},
		{config.Config{RedisURL: "rediss+sentinel://u:topsecret@h:26379/m", RedisTLSCertFile: bad, RedisTLSKeyFile: bad}, "redis_tls_cert_file"},
		{config.Config{RedisURL: "rediss://u:topsecret@h:6380/0?dial_timeout=nope"}, "redis_url"},
		{config.Config{RedisURL: "rediss+cluster://u:topsecret@h:7000", RedisTLSCAFile: bad}, "redis_tls_ca_file"},
	} {
		_, err := redisClientFactory(&c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "topsecret") {
			t.Errorf("%s: %v; want an error naming %s without the password", c.cfg.RedisURL, err, c.want)
		}
	}
	// A rediss URL without files uses the system roots.
	f, err := redisClientFactory(&config.Config{RedisURL: "rediss://h:6380/0"})
	if err != nil {
		t.Fatal(err)
	}
	rdb := f(redisPool{size: 2, deadlines: true, warm: true}).(*redis.Client)
	defer rdb.Close()
	if o := rdb.Options(); o.TLSConfig == nil || o.TLSConfig.ServerName != "h" {
		t.Fatalf("TLS config = %+v", o.TLSConfig)
	}
	if o := rdb.Options(); !o.ContextTimeoutEnabled || o.MinIdleConns != 2 || o.PipelinePoolSize >= 0 {
		t.Fatalf("a warm pool with deadlines: ContextTimeoutEnabled %v, MinIdleConns %d, PipelinePoolSize %d", o.ContextTimeoutEnabled, o.MinIdleConns, o.PipelinePoolSize)
	}
	// A rediss+cluster URL gives a cluster client speaking TLS.
	f, err = redisClientFactory(&config.Config{RedisURL: "rediss+cluster://ctiws:pw@h1:7000,h2:7001"})
	if err != nil {
		t.Fatal(err)
	}
	cc, ok := f(redisPool{size: 1}).(*redis.ClusterClient)
	if !ok {
		t.Fatalf("rediss+cluster:// gave %T, want a *redis.ClusterClient", f(redisPool{size: 1}))
	}
	defer cc.Close()
	if o := cc.Options(); o.TLSConfig == nil || len(o.Addrs) != 2 || o.Username != "ctiws" || o.Password != "pw" || o.PoolSize != 1 {
		t.Fatalf("cluster options = %+v", o)
	}
}
