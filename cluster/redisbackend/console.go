package redisbackend

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/redis/go-redis/v9"
)

// consoleStatusKey is the hash node → "<deadline ms>:<status JSON>" of the
// nodes' status records: one key, read in one round trip.
func consoleStatusKey() string { return keyPrefix + "console:status" }

// consoleAuditKey is the capped list of the console's audit entries,
// oldest first.
func consoleAuditKey() string { return keyPrefix + "console:audit" }

// statusPut stores a status record with its deadline (Redis' clock, so the
// nodes' clocks do not matter), drops the expired ones and keeps the hash
// itself as long as its longest-lived record.
var statusPut = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local d = tonumber(string.match(all[i + 1], '^(%d+):'))
  if d == nil or d <= now then redis.call('HDEL', KEYS[1], all[i]) end
end
redis.call('HSET', KEYS[1], ARGV[1], (now + tonumber(ARGV[2])) .. ':' .. ARGV[3])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`)

// statusGet returns node, record pairs that have not expired.
var statusGet = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local d, rest = string.match(all[i + 1], '^(%d+):(.*)$')
  if d ~= nil and tonumber(d) > now then
    out[#out + 1] = all[i]
    out[#out + 1] = rest
  end
end
return out
`)

// consoleRequestKey is the list of console requests queued for node.
func consoleRequestKey(node string) string { return keyPrefix + "console:req:" + node }

type console struct{ b *Backend }

// PutStatus stores node's status record for ttl.
func (c console) PutStatus(ctx context.Context, node string, status json.RawMessage, ttl time.Duration) error {
	if err := statusPut.Run(ctx, c.b.rdb, []string{consoleStatusKey()}, node, max(ttl.Milliseconds(), 1), string(status)).Err(); err != nil {
		return fmt.Errorf("redis backend: put status of %s: %w", node, err)
	}
	return nil
}

// Statuses returns the live status records by node.
func (c console) Statuses(ctx context.Context) (map[string]json.RawMessage, error) {
	pairs, err := statusGet.Run(ctx, c.b.rdb, []string{consoleStatusKey()}).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redis backend: statuses: %w", err)
	}
	out := make(map[string]json.RawMessage, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out[pairs[i]] = json.RawMessage(pairs[i+1])
	}
	return out, nil
}

// Audit appends an entry and keeps the newest max, in one transaction.
func (c console) Audit(ctx context.Context, entry json.RawMessage, max int) error {
	key := consoleAuditKey()
	_, err := c.b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, key, []byte(entry))
		if max > 0 {
			p.LTrim(ctx, key, int64(-max), -1)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis backend: audit: %w", err)
	}
	return nil
}

// AuditLog returns the newest n entries, newest first.
func (c console) AuditLog(ctx context.Context, n int) ([]json.RawMessage, error) {
	if n <= 0 {
		return nil, nil
	}
	vals, err := c.b.rdb.LRange(ctx, consoleAuditKey(), int64(-n), -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redis backend: audit log: %w", err)
	}
	out := make([]json.RawMessage, 0, len(vals))
	for i := len(vals) - 1; i >= 0; i-- {
		out = append(out, json.RawMessage(vals[i]))
	}
	return out, nil
}

// Request queues a request for node; the list expires RequestTTL after
// the last request.
func (c console) Request(ctx context.Context, node string, req json.RawMessage) error {
	key := consoleRequestKey(node)
	_, err := c.b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, key, []byte(req))
		p.PExpire(ctx, key, cluster.RequestTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis backend: request for %s: %w", node, err)
	}
	return nil
}

// TakeRequests reads and deletes node's requests in one transaction.
func (c console) TakeRequests(ctx context.Context, node string) ([]json.RawMessage, error) {
	key := consoleRequestKey(node)
	var rng *redis.StringSliceCmd
	_, err := c.b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		rng = p.LRange(ctx, key, 0, -1)
		p.Del(ctx, key)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redis backend: requests of %s: %w", node, err)
	}
	var out []json.RawMessage
	for _, v := range rng.Val() {
		out = append(out, json.RawMessage(v))
	}
	return out, nil
}
