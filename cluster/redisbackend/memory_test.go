package redisbackend_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/clustertest/redisserver"
	"github.com/ctiws/ctiws/pbx"
	"github.com/redis/go-redis/v9"
)

// TestRedisMemory measures what ctiws keeps in Redis, as INFO memory's
// used_memory deltas on a fresh redis-server: per tenant with 100 and 1,000
// extensions (the state hash, one password fingerprint per user, lease,
// fence and sequence), per logged-in socket (session hash, its entries in
// the user's and the node's socket sets) and per token. docs/benchmarks.md
// records the numbers; reproduce them with
//
//	go test -run TestRedisMemory -v ./cluster/redisbackend/
//
// The bounds only catch a gross regression (an order of magnitude).
func TestRedisMemory(t *testing.T) {
	srv := redisserver.Start(t)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	b := open(t, srv.URL()).Cluster()
	used := func() int64 {
		t.Helper()
		info, err := rdb.Info(ctx, "memory").Result()
		if err != nil {
			t.Fatal(err)
		}
		for l := range strings.SplitSeq(info, "\r\n") {
			if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		t.Fatal("INFO memory has no used_memory")
		return 0
	}
	keyBytes := func(tenant string) int64 {
		t.Helper()
		var sum int64
		iter := rdb.Scan(ctx, 0, "ctiws:{"+tenant+"}:*", 1000).Iterator()
		for iter.Next(ctx) {
			sum += rdb.MemoryUsage(ctx, iter.Val(), 0).Val()
		}
		return sum
	}
	check := func(what string, per, lo, hi float64) {
		t.Helper()
		if per < lo || per > hi {
			t.Errorf("%s: %.0f bytes, outside the plausible %.0f–%.0f", what, per, lo, hi)
		}
	}

	if info, err := rdb.Info(ctx, "server").Result(); err == nil {
		for l := range strings.SplitSeq(info, "\r\n") {
			if v, ok := strings.CutPrefix(l, "redis_version:"); ok {
				t.Logf("redis %s", v)
			}
		}
	}
	sample, _ := json.Marshal(sampleExtension("201"))
	t.Logf("one extension's JSON: %d bytes", len(sample))
	// The first run (a tenant of 10) loads the scripts into Redis' script
	// cache and is not reported.
	for _, n := range []int{10, 100, 1000} {
		tenant := fmt.Sprintf("tenant-%04d", n)
		before := used()
		l, ok, err := b.Ownership.Acquire(ctx, tenant, "node-1", time.Minute)
		if err != nil || !ok {
			t.Fatalf("acquire %s: %v %v", tenant, ok, err)
		}
		fps := map[string]string{}
		var evs []cluster.Event
		for i := range n {
			exten := strconv.Itoa(200 + i)
			data, _ := json.Marshal(sampleExtension(exten))
			evs = append(evs, cluster.Event{Name: "extenChanged", Key: "exten/" + exten, Data: data})
			fps["user"+exten] = hashOf("fp" + exten)[:16]
			if len(evs) == 100 {
				if err := b.Bus.PublishFenced(ctx, l, evs); err != nil {
					t.Fatal(err)
				}
				evs = nil
			}
		}
		if _, err := b.Tokens.SyncPasswords(ctx, tenant, nil, fps, time.Now()); err != nil {
			t.Fatal(err)
		}
		delta := used() - before
		if n == 10 {
			continue
		}
		t.Logf("tenant with %d extensions: used_memory +%d bytes (%.0f per extension); MEMORY USAGE of its keys %d bytes",
			n, delta, float64(delta)/float64(n), keyBytes(tenant))
		check(fmt.Sprintf("tenant with %d extensions, per extension", n), float64(delta)/float64(n), 100, 5000)
	}

	const sockets, users = 1000, 500
	if err := b.Sessions.Heartbeat(ctx, "node-1", time.Minute); err != nil {
		t.Fatal(err)
	}
	// One socket first: scripts loaded, the node's per-tenant set made.
	warm := cluster.Session{ID: "warm", Tenant: "tenant-sessions", User: "warm", Node: "node-1"}
	if _, err := b.Sessions.Add(ctx, warm); err != nil {
		t.Fatal(err)
	}
	before := used()
	for i := range sockets {
		s := cluster.Session{ID: fmt.Sprintf("sock%016d", i), Tenant: "tenant-sessions", User: fmt.Sprintf("user%d", 200+i%users),
			UAType: "desktop", Node: "node-1", TokenHash: hashOf(strconv.Itoa(i)), LoginAt: time.Now().Unix()}
		if _, err := b.Sessions.Add(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	per := float64(used()-before) / sockets
	t.Logf("socket: %.0f bytes each (%d sockets of %d users on one node)", per, sockets, users)
	check("per socket", per, 50, 2000)

	const tokens = 1000
	for _, persistent := range []bool{false, true} {
		if _, err := b.Tokens.PutPersistent(ctx, "tenant-tokens", "warm", hashOf("warm"), 0); err != nil {
			t.Fatal(err)
		}
		if err := b.Tokens.Put(ctx, "tenant-tokens", "warm", hashOf("warm2"), time.Hour); err != nil {
			t.Fatal(err)
		}
		before := used()
		for i := range tokens {
			user, h := fmt.Sprintf("user%d", 200+i%users), hashOf(fmt.Sprintf("%v-%d", persistent, i))
			var err error
			if persistent {
				_, err = b.Tokens.PutPersistent(ctx, "tenant-tokens", user, h, 0)
			} else {
				err = b.Tokens.Put(ctx, "tenant-tokens", user, h, time.Hour)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		per := float64(used()-before) / tokens
		t.Logf("token (persistent %v): %.0f bytes each", persistent, per)
		check(fmt.Sprintf("per token (persistent %v)", persistent), per, 50, 1000)
	}
}

// sampleExtension is an idle PJSIP extension as a FreePBX/NethVoice PBX
// reports it.
func sampleExtension(exten string) pbx.Extension {
	return pbx.Extension{
		IP: "192.168.5.123", Port: "5062", MAC: "00:15:65:aa:bb:cc", Exten: exten, Name: "Firstname Lastname " + exten,
		Username: "user" + exten, Status: "online", Codecs: pbx.Codecs{"ulaw", "alaw", "g722", "opus"},
		Context: "from-internal", ChanType: "pjsip", SIPUserAgent: "Yealink SIP-T46S 66.86.0.15",
	}
}

func hashOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
