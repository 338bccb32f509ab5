package redisbackend

import "strings"

// ACLRules are the Redis ACL rules a ctiws user needs, after `ACL SETUSER
// <user> on ><password>`: its keys and channels only, and exactly the
// commands the backend and `ctiws serve` send (including those inside the
// Lua scripts). docs/security.md shows the same list; a test runs the
// contract suite as a user with only these rules.
var ACLRules = strings.Join([]string{
	"~ctiws:*", "&ctiws:*", "-@all", "+@connection",
	"+get", "+set", "+del", "+exists", "+incr", "+pexpire", "+pttl", "+time",
	"+hget", "+hset", "+hdel", "+hmget", "+hgetall",
	"+sadd", "+srem", "+smembers", "+scard",
	"+zadd", "+zrem", "+zrange", "+zrangebyscore", "+zremrangebyscore", "+zcard",
	"+rpush", "+blpop", "+ltrim", "+lrange",
	"+spublish", "+ssubscribe", "+sunsubscribe",
	"+xadd", "+xreadgroup", "+xack", "+xautoclaim", "+xgroup", "+xdel",
	"+eval", "+evalsha", "+script|load", "+multi", "+exec", "+info", "+client|list", "+client|setname",
}, " ")

// SentinelACLRules are the rules of the sentinels' own ACL user for
// ctiws (a `user` line of sentinel.conf, or ACL SETUSER on each sentinel):
// what go-redis' failover client sends them to find the master, learn the
// other sentinels and hear about promotions. docs/security.md shows the
// same list.
var SentinelACLRules = strings.Join([]string{
	"-@all", "+@connection",
	"+sentinel|get-master-addr-by-name", "+sentinel|sentinels",
	"+subscribe", "+psubscribe",
}, " ")

// ClusterACLRules are the rules a ctiws user needs on a Redis Cluster on
// top of ACLRules (set both on every node): what go-redis' cluster client
// sends to learn the slot map.
var ClusterACLRules = strings.Join([]string{
	"+cluster|slots",
}, " ")
