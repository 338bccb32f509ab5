// Package redisbackend implements every interface of package cluster on
// Redis (go-redis v9), so any number of identical nodes share tokens,
// sessions, PBX ownership, the event bus, the PBX object state and the
// command queues.
//
// Every key of a tenant is hash-tagged ctiws:{<tenant>}:… so one tenant's
// keys share a Redis Cluster slot and each Lua script touches one slot.
// docs/cluster.md describes the key schema, the scripts, the TTLs and the
// failure behaviour.
//
// Redis being unreachable never makes New fail: Ready reports the error and
// every operation returns it wrapped with what failed.
package redisbackend
