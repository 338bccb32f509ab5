package redisbackend

// keyPrefix starts every key and channel of ctiws.
const keyPrefix = "ctiws:"

// LiveNodesKey is the sorted set of live nodes (node → deadline): the one
// key every node writes its heartbeat to, so on a Redis Cluster its
// master is connected to every live node.
const LiveNodesKey = keyPrefix + "nodes"

// tenantPrefix is the hash-tagged prefix of every key of a tenant.
func tenantPrefix(tenant string) string { return keyPrefix + "{" + tenant + "}:" }

func tokenKey(tenant, user, hash string) string {
	return tokenUserPrefix(tenant, user) + hash
}

// tokenUserPrefix is the prefix of the token keys of one user.
func tokenUserPrefix(tenant, user string) string { return tenantPrefix(tenant) + "tok:" + user + ":" }

// persistentKey is the sorted set (score: creation ms) of a user's
// persistent token hashes.
func persistentKey(tenant, user string) string { return tenantPrefix(tenant) + "ptok:" + user }

// notBeforeKey is the hash user -> not-before ms of the tenant.
func notBeforeKey(tenant string) string { return tenantPrefix(tenant) + "nbf" }

// jwtDenyKey marks a revoked JWT (by hash) until its exp.
func jwtDenyKey(tenant, hash string) string { return tenantPrefix(tenant) + "jwtdeny:" + hash }

// passwordsKey is the hash user -> password fingerprint of the tenant.
func passwordsKey(tenant string) string { return tenantPrefix(tenant) + "pwd" }

// retiredPasswordsKey is the hash user -> the fingerprints a password
// change replaced (space-separated, oldest first), never published again.
func retiredPasswordsKey(tenant string) string { return tenantPrefix(tenant) + "pwdold" }

func sessKey(tenant, id string) string      { return tenantPrefix(tenant) + "sess:" + id }
func userSetKey(tenant, user string) string { return tenantPrefix(tenant) + "user:" + user }
func nodeSetKey(tenant, node string) string { return tenantPrefix(tenant) + "node:" + node }
func nodesKey(tenant string) string         { return tenantPrefix(tenant) + "nodes" }
func sessSeqKey(tenant string) string       { return tenantPrefix(tenant) + "sessseq" }
func heartbeatKey(node string) string       { return keyPrefix + "node:" + node }
func liveNodesKey() string                  { return LiveNodesKey }
func leaseKey(tenant string) string         { return tenantPrefix(tenant) + "lease" }
func fenceKey(tenant string) string         { return tenantPrefix(tenant) + "fence" }
func seqKey(tenant string) string           { return tenantPrefix(tenant) + "seq" }
func stateKey(tenant string) string         { return tenantPrefix(tenant) + "state" }
func eventsChannel(tenant string) string    { return tenantPrefix(tenant) + "events" }
func cmdStreamKey(tenant string) string     { return tenantPrefix(tenant) + "cmd" }
func probeChannel(instance string) string   { return keyPrefix + "probe:" + instance }

// tenantProbeChannel is the deafness probe of a cluster lane opened by
// tenant: in the tenant's slot, so on the lane's shard.
func tenantProbeChannel(tenant, instance string) string {
	return tenantPrefix(tenant) + "probe:" + instance
}

// replyKey holds the result of an awaited command.
func replyKey(tenant, id string) string { return tenantPrefix(tenant) + "cmdres:" + id }

// leaseServerKey records which Redis server (run_id) last answered an
// Acquire of the tenant, and since when (docs/cluster.md, "One owner at a
// time").
func leaseServerKey(tenant string) string { return tenantPrefix(tenant) + "leasesrv" }

// leaseForKey names the node a planned hand-over keeps the tenant's free
// lease for, until it takes it or the mark expires (leaseReserve).
func leaseForKey(tenant string) string { return tenantPrefix(tenant) + "leasefor" }
