package redisbackend_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster/clustertest/redisserver"
	redisbackend "github.com/ctiws/ctiws/cluster/redisbackend"
	"github.com/redis/go-redis/v9"
)

// TestCheckSchema: an empty Redis gets the current version; the current
// version passes; a newer, an older or a foreign value is refused with a
// message saying which; an unreachable Redis is an error, not a verdict.
func TestCheckSchema(t *testing.T) {
	cur := strconv.Itoa(redisbackend.SchemaVersion)
	tests := []struct {
		name    string
		stored  string // "" = no key
		wantErr string // "" = accepted
	}{
		{"new Redis", "", ""},
		{"same schema", cur, ""},
		{"newer schema", strconv.Itoa(redisbackend.SchemaVersion + 1), "newer than this build's"},
		{"older schema", "0", "not a schema version"},
		{"not a number", "banana", "not a schema version"},
	}
	if redisbackend.SchemaVersion > 1 {
		tests = append(tests, struct{ name, stored, wantErr string }{"older schema", strconv.Itoa(redisbackend.SchemaVersion - 1), "older than this build's"})
	}
	srv := redisserver.Start(t)
	// The backend runs as a user with only ACLRules, as in production.
	if out, err := srv.Do("ACL SETUSER ctiws on >acl-test-pw " + redisbackend.ACLRules); err != nil || out != "+OK" {
		t.Fatalf("ACL SETUSER: %q %v", out, err)
	}
	aclURL := strings.Replace(srv.URL(), "redis://", "redis://ctiws:acl-test-pw@", 1)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	stored := func() string { v, _ := rdb.Get(context.Background(), "ctiws:schema").Result(); return v }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := rdb.Del(ctx, "ctiws:schema").Err(); err != nil {
				t.Fatal(err)
			}
			if tt.stored != "" {
				if err := rdb.Set(ctx, "ctiws:schema", tt.stored, 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			b := open(t, aclURL)
			err := b.CheckSchema(ctx)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got := stored(); got != cur {
					t.Errorf("stored version after the check: %q, want %s", got, cur)
				}
				return
			}
			var se *redisbackend.SchemaError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want a SchemaError saying %q", err, tt.wantErr)
			}
			if got := stored(); got != tt.stored {
				t.Errorf("the check overwrote the stored version: %q", got)
			}
		})
	}

	t.Run("Redis unreachable", func(t *testing.T) {
		down := redisserver.Start(t)
		url := down.URL()
		down.Stop()
		b := open(t, url)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := b.CheckSchema(ctx)
		var se *redisbackend.SchemaError
		if err == nil || errors.As(err, &se) {
			t.Fatalf("got %v, want a connection error", err)
		}
	})
}

// TestCheckSchemaOnRedisCluster: the check runs through the cluster client,
// as a user with only the ACL rules, and refuses a newer schema there too.
func TestCheckSchemaOnRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a redis cluster")
	}
	_, addrs := startACLCluster(t)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Username: "ctiws", Password: "acl-test-pw"})
	b := redisbackend.NewFromClient(rdb, redisbackend.WithLogger(testLog))
	t.Cleanup(func() { _ = b.Close(); _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.CheckSchema(ctx); err != nil {
		t.Fatalf("a new cluster refused: %v", err)
	}
	if v, err := rdb.Get(ctx, "ctiws:schema").Result(); err != nil || v != strconv.Itoa(redisbackend.SchemaVersion) {
		t.Fatalf("stored version %q (%v)", v, err)
	}
	admin := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = admin.Close() })
	if err := admin.Set(ctx, "ctiws:schema", redisbackend.SchemaVersion+1, 0).Err(); err != nil {
		t.Fatal(err)
	}
	var se *redisbackend.SchemaError
	if err := b.CheckSchema(ctx); !errors.As(err, &se) {
		t.Fatalf("newer schema on a cluster: got %v, want a SchemaError", err)
	}
}
