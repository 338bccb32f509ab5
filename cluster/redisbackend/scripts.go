package redisbackend

import "github.com/redis/go-redis/v9"

// The Lua scripts. Each touches the keys of one tenant only (one hash slot);
// keys derived inside a script use the tenant prefix passed in ARGV, which
// carries the same hash tag. Scripts are immutable, so package-level vars.

// tokenPut: KEYS[1]=token, KEYS[2]=user's persistent index, KEYS[3]=password
// fingerprint hash; ARGV: created ms, ttl ms (0: persistent), max persistent
// (0: no cap), token key prefix of the user, hash, password fingerprint
// ("": not bound to a password), user. A token's value is its creation time
// (ms), compared with the user's not-before, then "|" and the fingerprint
// when it has one. Returns the number of evicted tokens, or -1 (nothing
// stored) when the fingerprint is not the user's current one.
var tokenPut = redis.NewScript(`
if ARGV[6] ~= '' then
  local cur = redis.call('HGET', KEYS[3], ARGV[7])
  if cur and cur ~= ARGV[6] then return -1 end
end
local v = ARGV[1]
if ARGV[6] ~= '' then v = v .. '|' .. ARGV[6] end
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('SET', KEYS[1], v, 'PX', ttl)
  redis.call('ZREM', KEYS[2], ARGV[5])
  return 0
end
redis.call('SET', KEYS[1], v)
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[5])
local max = tonumber(ARGV[3])
local evicted = 0
if max > 0 then
  local n = redis.call('ZCARD', KEYS[2])
  if n > max then
    for _, h in ipairs(redis.call('ZRANGE', KEYS[2], 0, n - max - 1)) do
      redis.call('DEL', ARGV[4] .. h)
      redis.call('ZREM', KEYS[2], h)
      evicted = evicted + 1
    end
  end
end
return evicted
`)

// tokenCheck: KEYS[1]=token, KEYS[2]=not-before hash, KEYS[3]=user's
// persistent index, KEYS[4]=password fingerprint hash; ARGV: ttl ms (0: no
// slide), user, hash. A token created before the user's not-before, or
// issued under a password fingerprint that is no longer the user's current
// one, is deleted. Slides only tokens that have a TTL.
var tokenCheck = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local created, fp = string.match(v, '^(%d+)|?(.*)$')
local nbf = redis.call('HGET', KEYS[2], ARGV[2])
local stale = false
if fp and fp ~= '' then
  local cur = redis.call('HGET', KEYS[4], ARGV[2])
  stale = cur and cur ~= fp
end
if stale or (nbf and (tonumber(created) or 0) < tonumber(nbf)) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], ARGV[3])
  return 0
end
local ttl = tonumber(ARGV[1])
if ttl > 0 and redis.call('PTTL', KEYS[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`)

// revokeLua deletes a user's persistent tokens and moves the user's
// not-before forward; shared by tokenRevokeUser and tokenSyncPasswords.
const revokeLua = `
local function revoke(prefix, nbfkey, user, at)
  local idx = prefix .. 'ptok:' .. user
  local hs = redis.call('ZRANGE', idx, 0, -1)
  for _, h in ipairs(hs) do redis.call('DEL', prefix .. 'tok:' .. user .. ':' .. h) end
  redis.call('DEL', idx)
  local cur = tonumber(redis.call('HGET', nbfkey, user) or '0')
  if tonumber(at) > cur then redis.call('HSET', nbfkey, user, at) end
  return #hs
end
`

// tokenRevokeUser: KEYS[1]=not-before hash; ARGV: tenant prefix, user, at
// ms. Returns the number of persistent tokens deleted.
var tokenRevokeUser = redis.NewScript(revokeLua + `
return revoke(ARGV[1], KEYS[1], ARGV[2], ARGV[3])
`)

// tokenSyncPasswords: KEYS[1]=password fingerprint hash (user ->
// current fingerprint, "" when removed), KEYS[2]=not-before hash,
// KEYS[3]=retired fingerprint hash (user -> space-separated fingerprints,
// oldest first); ARGV: tenant prefix, at ms, max retired, n, then n user,
// fingerprint pairs of the node's file now, then the user, fingerprint
// pairs the node published last. Returns {revoked, stale}; the rules are
// cluster.Tokens.SyncPasswords'.
var tokenSyncPasswords = redis.NewScript(revokeLua + `
local maxRetired = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local function retiredList(user)
  local list = {}
  local r = redis.call('HGET', KEYS[3], user)
  if r then for f in string.gmatch(r, '%S+') do table.insert(list, f) end end
  return list
end
local function isRetired(user, fp)
  for _, f in ipairs(retiredList(user)) do if f == fp then return true end end
  return false
end
local function retire(user, cur, nxt)
  if cur ~= '' then
    local list = retiredList(user)
    table.insert(list, cur)
    while #list > maxRetired do table.remove(list, 1) end
    redis.call('HSET', KEYS[3], user, table.concat(list, ' '))
  end
  redis.call('HSET', KEYS[1], user, nxt)
end
local listed = {}
local revoked, stale = {}, {}
for i = 5, 4 + 2 * n, 2 do
  local user, fp = ARGV[i], ARGV[i + 1]
  listed[user] = true
  local cur = redis.call('HGET', KEYS[1], user)
  if cur == fp then
  elseif isRetired(user, fp) then
    table.insert(stale, user)
  elseif not cur then
    redis.call('HSET', KEYS[1], user, fp)
  else
    retire(user, cur, fp)
    revoke(ARGV[1], KEYS[2], user, ARGV[2])
    table.insert(revoked, user)
  end
end
local previous = {}
for i = 5 + 2 * n, #ARGV, 2 do previous[ARGV[i]] = ARGV[i + 1] end
local stored = redis.call('HGETALL', KEYS[1])
for i = 1, #stored, 2 do
  local user, cur = stored[i], stored[i + 1]
  if cur ~= '' and not listed[user] and previous[user] == cur then
    retire(user, cur, '')
    revoke(ARGV[1], KEYS[2], user, ARGV[2])
    table.insert(revoked, user)
  end
end
return {revoked, stale}
`)

// tokenCheckJWT: KEYS[1]=deny-list entry, KEYS[2]=not-before hash,
// KEYS[3]=password fingerprint hash; ARGV: user, issued ms, password
// fingerprint ("": none). Returns 1 when the JWT is still valid.
var tokenCheckJWT = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local nbf = redis.call('HGET', KEYS[2], ARGV[1])
if nbf and tonumber(ARGV[2]) < tonumber(nbf) then return 0 end
if ARGV[3] ~= '' then
  local cur = redis.call('HGET', KEYS[3], ARGV[1])
  if cur and cur ~= ARGV[3] then return 0 end
end
return 1
`)

// sessAdd: KEYS[1]=sess hash, KEYS[2]=user set, KEYS[3]=node set,
// KEYS[4]=tenant node set, KEYS[5]=the tenant's login counter; ARGV: id,
// user, node, uaType, tokenHash, loginAt, tenant prefix. The login gets the
// next number of the counter (field seq). Returns 1 when this is the user's
// first socket.
var sessAdd = redis.NewScript(`
local old = redis.call('HMGET', KEYS[1], 'user', 'node')
if old[1] and old[1] ~= ARGV[2] then redis.call('SREM', ARGV[7] .. 'user:' .. old[1], ARGV[1]) end
if old[2] and old[2] ~= ARGV[3] then redis.call('SREM', ARGV[7] .. 'node:' .. old[2], ARGV[1]) end
local seq = redis.call('INCR', KEYS[5])
redis.call('HSET', KEYS[1], 'user', ARGV[2], 'node', ARGV[3], 'ua', ARGV[4], 'th', ARGV[5], 'at', ARGV[6], 'seq', seq)
local added = redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[3])
if added == 1 and redis.call('SCARD', KEYS[2]) == 1 then return 1 end
return 0
`)

// sessRemove: KEYS[1]=sess hash; ARGV: id, tenant prefix. Returns 1 when the
// user's last socket went away (exactly once: the script is atomic).
var sessRemove = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'user', 'node')
if not f[1] then return 0 end
redis.call('DEL', KEYS[1])
if f[2] then
  local nk = ARGV[2] .. 'node:' .. f[2]
  redis.call('SREM', nk, ARGV[1])
end
local uk = ARGV[2] .. 'user:' .. f[1]
if redis.call('SREM', uk, ARGV[1]) == 1 and redis.call('SCARD', uk) == 0 then return 1 end
return 0
`)

// sessExpireNode: KEYS[1]=node set, KEYS[2]=tenant node set; ARGV: node,
// tenant prefix. Removes every session of a dead node in the tenant and
// returns the users whose last socket went with them.
var sessExpireNode = redis.NewScript(`
local gone = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local sk = ARGV[2] .. 'sess:' .. id
  local f = redis.call('HMGET', sk, 'user', 'node')
  if f[1] and f[2] == ARGV[1] then
    redis.call('DEL', sk)
    local uk = ARGV[2] .. 'user:' .. f[1]
    if redis.call('SREM', uk, id) == 1 and redis.call('SCARD', uk) == 0 then table.insert(gone, f[1]) end
  end
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return gone
`)

// leaseAcquire: KEYS[1]=lease hash, KEYS[2]=fence counter, KEYS[3]=lease
// server record (hash: run, since), KEYS[4]=reservation (string: the node a
// hand-over keeps the free lease for, PX); ARGV: node, ttl ms. Returns {1,
// epoch, node} when acquired (or already ours, extended), {0, epoch, holder}
// when held by another node, {0, 0, ”} when free but held back (after a
// failover, or reserved for another node by leaseReserve).
//
// A new epoch is the larger of the counter plus one and Redis' clock in
// milliseconds: a replica promoted by Sentinel may have missed the last
// INCRs of the old master (replication is asynchronous), but its clock has
// moved on by the failover's seconds, so an epoch never goes backwards
// across a promotion (docs/cluster.md, "Redis failover").
//
// A free lease is held back for one TTL after this server first answered
// for the tenant when another server (by run_id) did before: a promoted
// replica, or a server restarted from its files, may lack the last lease
// writes of the old one (a renewal, or the lease itself), and the node that
// made them may still count itself the owner for two thirds of a TTL after
// its last one. The record names the server that last answered an Acquire
// of the tenant; a tenant without one (new, or all data lost) is not held
// back (docs/cluster.md, "One owner at a time").
var leaseAcquire = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
local srv = redis.call('HMGET', KEYS[3], 'run', 'since')
local since = tonumber(srv[2]) or 0
if srv[1] ~= run then
  if srv[1] then since = now else since = 0 end
  redis.call('HSET', KEYS[3], 'run', run, 'since', string.format('%d', since))
end
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then
  if now < since + tonumber(ARGV[2]) then
    return {0, 0, ''}
  end
  local to = redis.call('GET', KEYS[4])
  if to and to ~= ARGV[1] then
    return {0, 0, ''}
  end
  if to then redis.call('DEL', KEYS[4]) end
  local epoch = redis.call('INCR', KEYS[2])
  if epoch < now then
    epoch = now
    redis.call('SET', KEYS[2], string.format('%d', now))
  end
  redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'epoch', epoch)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, epoch, ARGV[1]}
end
local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch'))
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, epoch, owner}
end
return {0, epoch, owner}
`)

// leaseRenew: KEYS[1]=lease; ARGV: node, epoch, ttl ms. Returns 1 if renewed.
var leaseRenew = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'owner', 'epoch')
if f[1] == ARGV[1] and f[2] == ARGV[2] then return redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 0
`)

// leaseRenewMany: KEYS = leases; ARGV[1] = ttl ms, then node and epoch
// per lease. Renews each like leaseRenew; returns 1 or 0 per lease.
var leaseRenewMany = redis.NewScript(`
local out = {}
for i, k in ipairs(KEYS) do
  local f = redis.call('HMGET', k, 'owner', 'epoch')
  if f[1] == ARGV[2 * i] and f[2] == ARGV[2 * i + 1] then
    out[i] = redis.call('PEXPIRE', k, ARGV[1])
  else
    out[i] = 0
  end
end
return out
`)

// leaseRelease: KEYS[1]=lease; ARGV: node, epoch. Deletes a matching lease.
var leaseRelease = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'owner', 'epoch')
if f[1] == ARGV[1] and f[2] == ARGV[2] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// leaseReserve: KEYS[1]=lease, KEYS[2]=reservation; ARGV: node, epoch, the
// node to keep the lease for, ttl ms. Only the holder of the live lease
// (node and epoch) can reserve it: returns 1 when it did, 0 otherwise.
var leaseReserve = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'owner', 'epoch')
if f[1] == ARGV[1] and f[2] == ARGV[2] then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
  return 1
end
return 0
`)

// publishFenced: KEYS[1]=lease, KEYS[2]=seq counter, KEYS[3]=state hash;
// ARGV[1]=node, ARGV[2]=epoch, ARGV[3]=channel, then four per event: key
// (” = not keyed), op ('s' store, 'd' delete, ” none), data, envelope.
// Checks the lease, then per event INCR seq, stores or deletes the state
// field as "<seq>:<data>", and SPUBLISHes "s:<seq>:<envelope>" (the
// channel is in the tenant's slot, so a Redis Cluster runs the script on
// one shard and delivers on that shard only). Returns the
// last seq, or -1 when the fence fails (nothing is written).
var publishFenced = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'owner', 'epoch')
if f[1] ~= ARGV[1] or f[2] ~= ARGV[2] then return -1 end
local seq = 0
for i = 4, #ARGV, 4 do
  seq = redis.call('INCR', KEYS[2])
  local op = ARGV[i + 1]
  if op == 's' then
    redis.call('HSET', KEYS[3], ARGV[i], seq .. ':' .. ARGV[i + 2])
  elseif op == 'd' then
    redis.call('HDEL', KEYS[3], ARGV[i])
  end
  redis.call('SPUBLISH', ARGV[3], 's:' .. seq .. ':' .. ARGV[i + 3])
end
return seq
`)

// nodeBeat: KEYS[1]=live node set (sorted set node → deadline in ms of
// Redis's own clock); ARGV: node, ttl ms (0: no expiry). Also drops nodes
// dead for a minute, so the set stays as small as the cluster.
var nodeBeat = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
else
  redis.call('ZADD', KEYS[1], '+inf', ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
return 1
`)

// nodeList: KEYS[1]=live node set. Returns the nodes whose deadline is
// still ahead by Redis's clock (no node's clock matters).
var nodeList = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
`)
