// Package cluster defines the shared state of a ctiws deployment: tokens,
// sessions, PBX ownership, the event bus, the PBX object state and the
// command queue to the owner of a tenant's PBX.
//
// Two implementations exist: cluster/memory (one node, the embedded default)
// and cluster/redisbackend (many nodes). Both pass the same contract suite in
// cluster/clustertest. The ws and ami packages never import each other; they
// meet through the interfaces of this package and the PBX vocabulary of
// package pbx. Events and commands travel opaque: a name, a key and JSON
// data; their names and payload types are pbx's, not this package's.
//
// Every method is tenant-scoped: tenants never see each other's data.
package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrNotOwner is returned by a fenced publish when the caller no longer holds
// the tenant's lease with the given epoch.
var ErrNotOwner = errors.New("cluster: not the owner of the tenant lease")

// ErrPasswordStale is returned by Tokens.PutIssued when the password a
// token was to be issued under is not the user's current one in the store.
var ErrPasswordStale = errors.New("cluster: password fingerprint is not the user's current one")

// RenewErrors is RenewAll's answer when only some leases could not be
// asked about: Failed[i] is why leases[i] was not renewed, nil for a lease
// the backend answered for. One unreachable shard then costs only its own
// tenants' leases.
type RenewErrors struct {
	Failed []error
}

// Error names how many renewals failed and the first reason.
func (e *RenewErrors) Error() string {
	n, first := 0, error(nil)
	for _, err := range e.Failed {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	return fmt.Sprintf("cluster: %d of %d lease renewals failed: %v", n, len(e.Failed), first)
}

// Unwrap returns the reasons, for errors.Is and errors.As.
func (e *RenewErrors) Unwrap() []error { return e.Failed }

// EvResync is the bus's resync marker. It has two uses, told apart by Seq:
// from the owner of a tenant's PBX (Seq > 0) it says the model was
// (re)built after an AMI (re)connect; from the bus itself (Seq == 0 and
// Epoch == 0) it says events may have been lost (queue overflow,
// reconnect, sequence gap) and the subscriber must re-read State and treat
// events with a Seq at or below the State's as duplicates. Every other
// event name is opaque to the bus: the PBX's are in package pbx.
const EvResync = "modelResync"

// Event is one message on a tenant's bus.
//
// Events from the PBX owner are fenced: they carry the lease Epoch and a
// per-tenant Seq assigned by the bus, and state events carry the object Key
// (e.g. "exten/201") whose current JSON the bus stores next to the stream.
// Node events (presence, user-targeted deliveries) have Epoch and Seq zero.
type Event struct {
	Tenant string          `json:"t"`
	Epoch  uint64          `json:"e,omitempty"`
	Seq    uint64          `json:"s,omitempty"`
	Name   string          `json:"n"`
	Key    string          `json:"k,omitempty"`
	Data   json.RawMessage `json:"d,omitempty"`
	// Del marks a keyed event that removes its object from the state
	// (e.g. confBridgeConfEnd).
	Del bool `json:"x,omitempty"`
	// Target, when set, restricts delivery to one user (lower-cased
	// username) or, with a "socket:" prefix, to one socket id.
	Target string `json:"u,omitempty"`
	// Origin is the node that published the event.
	Origin string `json:"o,omitempty"`
	// From is the user (lower-cased username) whose request a node event
	// carries to others (a relay, a post-it): receivers give each sender
	// a bounded share of their queues.
	From string `json:"f,omitempty"`
	// Time is the publish time in Unix nanoseconds (for lag metrics and
	// end-to-end latency).
	Time int64 `json:"ts,omitempty"`
}

// Deletes reports whether a keyed event removes its object from the stored
// state: marked Del, or carrying no data. Both backends apply it the same.
func (ev Event) Deletes() bool { return ev.Del || len(ev.Data) == 0 }

// Object is the stored state of one PBX object.
type Object struct {
	Key  string          `json:"k"`
	Seq  uint64          `json:"s"`
	Data json.RawMessage `json:"d"`
}

// Tokens stores authentication tokens, hashed by the caller, and what is
// needed to revoke them cluster-wide: a per-user "not before" time (a
// password change revokes every token issued before it), a deny-list of JWT
// hashes (logout) and the index of persistent tokens.
type Tokens interface {
	// Put stores a token hash for user. ttl 0 means persistent (listed by
	// Persistent, not capped; see PutPersistent).
	Put(ctx context.Context, tenant, user, tokenHash string, ttl time.Duration) error
	// PutPersistent stores a persistent token and evicts the user's oldest
	// persistent tokens beyond max (0: no cap). It returns how many were
	// evicted.
	PutPersistent(ctx context.Context, tenant, user, tokenHash string, max int) (evicted int, err error)
	// Check reports whether the token hash is valid for user and, for a
	// non-persistent token, slides its expiry to now+ttl. A token stored
	// before the user's not-before time is invalid (and removed), and so
	// is a token of PutIssued whose password fingerprint is no longer the
	// user's current one.
	Check(ctx context.Context, tenant, user, tokenHash string, ttl time.Duration) (bool, error)
	// Delete removes a token hash.
	Delete(ctx context.Context, tenant, user, tokenHash string) error
	// Persistent lists the user's persistent tokens, oldest first.
	Persistent(ctx context.Context, tenant, user string) ([]PersistentToken, error)
	// RevokeUser deletes every persistent token of user and moves the
	// user's not-before time to at (never backwards), which invalidates
	// every other token and JWT issued before it. It returns how many
	// persistent tokens were deleted.
	RevokeUser(ctx context.Context, tenant, user string, at time.Time) (int, error)
	// DenyJWT puts the hash of a JWT on the tenant's deny-list until exp
	// (after which the JWT is invalid anyway).
	DenyJWT(ctx context.Context, tenant, tokenHash string, exp time.Time) error
	// CheckJWT reports whether a signature-verified JWT of user, issued at
	// issued, is neither denied nor issued before the user's not-before.
	// pwfp is the password fingerprint the JWT was issued under (ctiws's
	// password logins put it in the token; "" for other JWTs): when the
	// store holds a current fingerprint for the user and it is not pwfp,
	// the JWT is refused.
	CheckJWT(ctx context.Context, tenant, user, tokenHash string, issued time.Time, pwfp string) (bool, error)
	// PutIssued stores a token hash that a password login issued under the
	// password fingerprint pwfp: the token is valid only while pwfp is the
	// user's current fingerprint in the store (Check refuses and removes
	// it afterwards). ttl 0 means persistent, capped at max like
	// PutPersistent. When the store holds another current fingerprint for
	// the user (the issuing node's htpasswd is behind or not yet synced)
	// or the user was removed, nothing is stored and the error is
	// ErrPasswordStale. It returns how many persistent tokens were
	// evicted.
	PutIssued(ctx context.Context, tenant, user, tokenHash string, ttl time.Duration, max int, pwfp string) (evicted int, err error)
	// PasswordFingerprint returns the user's current password fingerprint
	// as the store holds it. known is false when no node has published
	// one; an empty fp with known true means the user was removed.
	PasswordFingerprint(ctx context.Context, tenant, user string) (fp string, known bool, err error)
	// SyncPasswords publishes a node's password fingerprints of the
	// tenant's users (lower-cased user -> fingerprint of the htpasswd
	// hash): current is what the node's file holds now, previous what the
	// node last published (nil at start). Per user, atomically:
	//   - a fingerprint the store has never held becomes the current one;
	//     when it replaces another, the replaced one is retired and the
	//     user revoked (as RevokeUser at at). A user seen for the first
	//     time is not revoked.
	//   - a retired fingerprint (the node's file is older than what
	//     another node published) is never written back: the user is
	//     reported Stale, and the node must refuse its password logins.
	//   - a user missing from current is removed (retired, revoked) only
	//     when previous holds the store's current fingerprint, i.e. this
	//     node saw the removal; a node whose file merely lacks a user
	//     another node added does not remove it.
	// Every node calls it at start and on reload; a change is acted upon
	// once, whatever the order in which the nodes see it.
	SyncPasswords(ctx context.Context, tenant string, previous, current map[string]string, at time.Time) (PasswordSync, error)
}

// MaxRetiredPasswords is how many replaced fingerprints per user the store
// remembers, so that a node with an older htpasswd cannot roll a password
// back.
const MaxRetiredPasswords = 16

// PasswordSync is what SyncPasswords did.
type PasswordSync struct {
	// Revoked are the users whose password changed or who were removed:
	// every token of theirs is revoked. Sorted.
	Revoked []string
	// Stale are the users whose fingerprint on the calling node is one
	// the store retired: the node's htpasswd is older than the cluster's.
	// Sorted.
	Stale []string
}

// PersistentToken is one persistent (auth-exp: no-exp) token, as an
// operator lists it: never the token, only its hash.
type PersistentToken struct {
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
}

// Session is one logged-in socket.
type Session struct {
	ID        string `json:"id"`
	Tenant    string `json:"tenant"`
	User      string `json:"user"` // resolved, lower-cased username
	UAType    string `json:"uaType,omitempty"`
	Node      string `json:"node"`
	TokenHash string `json:"-"`
	LoginAt   int64  `json:"loginAt"`
	// Seq orders the logins of a tenant: the store numbers each Add (a
	// login, or a socket's login again) above every earlier one, whatever
	// the nodes' clocks. 0: unknown (a session stored by an older build).
	Seq uint64 `json:"seq,omitempty"`
}

// CompareSessions orders sessions by login time, login number (Seq), then
// id: the order of Sessions.UserSessions.
func CompareSessions(a, b Session) int {
	return cmp.Or(cmp.Compare(a.LoginAt, b.LoginAt), cmp.Compare(a.Seq, b.Seq), cmp.Compare(a.ID, b.ID))
}

// Sessions is the cluster-wide map of logged-in sockets (the original's wsid).
type Sessions interface {
	// Add registers a logged-in socket and numbers its login (Session.Seq,
	// ignored on input). first is true when it is the user's first socket
	// anywhere in the cluster. The node must have sent a
	// Heartbeat before, or Expired reaps the session.
	Add(ctx context.Context, s Session) (first bool, err error)
	// Remove unregisters a socket. last is true when it was the user's last
	// socket anywhere in the cluster; it is reported exactly once.
	Remove(ctx context.Context, tenant, id string) (last bool, err error)
	// UserSessions lists the sockets of a user, in CompareSessions order.
	UserSessions(ctx context.Context, tenant, user string) ([]Session, error)
	// Heartbeat keeps the sessions of node alive for ttl, and node in the
	// set Nodes returns.
	Heartbeat(ctx context.Context, node string, ttl time.Duration) error
	// Nodes lists the nodes whose heartbeat is live, sorted. It reads one
	// place (no scan over the keyspace), whatever the number of tenants.
	Nodes(ctx context.Context) ([]string, error)
	// Expired removes, in each of the tenants, the sessions whose node
	// stopped heartbeating and returns per tenant the users whose last
	// socket went away with them (each once, cluster-wide). Tenants without
	// any are left out of the map. It costs a few round trips for all the
	// tenants together, not a few per tenant.
	Expired(ctx context.Context, tenants []string) (lastGone map[string][]string, err error)
}

// Lease is a held ownership of a tenant's PBX connection.
type Lease struct {
	Tenant string
	Node   string
	Epoch  uint64
}

// Ownership elects one node per tenant to own the AMI connection.
type Ownership interface {
	// Acquire takes the lease if it is free (or already ours) and returns it
	// with a fencing epoch that grows on every new acquisition. When
	// refused it returns the holder's lease, or one without a node when a
	// free lease is held back (docs/cluster.md, "One owner at a time").
	Acquire(ctx context.Context, tenant, node string, ttl time.Duration) (Lease, bool, error)
	// Renew extends a held lease; false means it was lost.
	Renew(ctx context.Context, l Lease, ttl time.Duration) (bool, error)
	// RenewAll extends many held leases (of any tenants) in a few round
	// trips for all of them: the cost of keeping a node's leases does not
	// grow in round trips with the number of tenants. held[i] tells
	// whether leases[i] is still held. A *RenewErrors error names the
	// leases that could not be asked about (on a Redis Cluster, those of an
	// unreachable shard) and held stands for the others; any other error
	// says nothing about any lease.
	RenewAll(ctx context.Context, leases []Lease, ttl time.Duration) (held []bool, err error)
	// Release gives a held lease up at once.
	Release(ctx context.Context, l Lease) error
	// Owner returns the current holder, if any.
	Owner(ctx context.Context, tenant string) (Lease, bool, error)
	// Owners returns the current holders of tenants, out[i] that of
	// tenants[i] (a zero Node when the lease is free), at a cost in round
	// trips that does not grow with the number of tenants. When some could
	// not be read (on a Redis Cluster, those of an unreachable shard) it
	// returns an error and out still holds the others: out[i].Tenant is
	// empty for each one not read.
	Owners(ctx context.Context, tenants []string) ([]Lease, error)
	// Reserve marks l's tenant as reserved for node to, for ttl, and
	// reports whether it did: only the holder of the live lease l can
	// (false otherwise, nothing written). While the mark lasts, Acquire of
	// the free lease by any node but to is refused as a held-back lease
	// (no holder); to's Acquire takes it with a new epoch and clears the
	// mark. A mark nobody uses expires, so a target that never comes does
	// not leave the tenant without an owner for longer than ttl. A planned
	// hand-over sets it, then releases l (docs/cluster.md, "Handing a
	// tenant to a chosen node").
	Reserve(ctx context.Context, l Lease, to string, ttl time.Duration) (bool, error)
}

// Bus carries events between nodes and keeps the current PBX object state.
type Bus interface {
	// PublishFenced publishes owner events in order after checking that l is
	// still the tenant's lease. It assigns Epoch and Seq, and stores (or, for
	// nil Data with a Key, deletes) the state of every keyed event in the
	// same atomic step. It returns ErrNotOwner when the fence fails.
	PublishFenced(ctx context.Context, l Lease, evs []Event) error
	// Publish sends an unfenced node event.
	Publish(ctx context.Context, ev Event) error
	// Subscribe registers a subscription to the tenant's events and returns;
	// from then on fn receives them in publish order, from a goroutine of
	// the bus, until ctx ends. Each call hands over every event that was
	// pending at that moment (at least one), so the subscriber can treat a
	// burst as one unit; Each adapts a per-event function. Events published after Subscribe returned are
	// never missed silently: a lost connection or an overflow is reported
	// to fn as an Event named EvResync (the subscriber re-reads State). It
	// returns an error only when the subscription cannot be made. fn must
	// not block for long.
	Subscribe(ctx context.Context, tenant string, fn func([]Event)) error
	// State returns the stored objects of the tenant whose key starts with
	// prefix, and the sequence number they are consistent with.
	State(ctx context.Context, tenant, prefix string) ([]Object, uint64, error)
}

// Each adapts a per-event function to Bus.Subscribe's batches.
func Each(fn func(Event)) func([]Event) {
	return func(evs []Event) {
		for _, ev := range evs {
			fn(ev)
		}
	}
}

// Command is a request for the owner of a tenant's PBX (e.g. a presence
// change carried out through AMI). The queue carries it opaquely: a Name
// and JSON Args. Build it with NewCommand from a typed argument (the PBX
// vocabulary's, pbx.CommandArgs); the owner reads it back with
// pbx.DecodeCommand.
type Command struct {
	ID     string          `json:"id,omitempty"`
	Tenant string          `json:"tenant"`
	Name   string          `json:"name"`
	User   string          `json:"user,omitempty"`
	Args   json.RawMessage `json:"args,omitempty"`
	// Reply asks the owner to publish the command's result under ID
	// (Commands.Reply); the sender waits for it with Commands.Await.
	Reply bool `json:"reply,omitempty"`
	// Expires, when set, is the Unix time in milliseconds after which the
	// owner drops the command without carrying it out (its sender gave
	// up waiting).
	Expires int64 `json:"exp,omitempty"`
}

// Commands is a per-tenant queue consumed by the owner; a command survives an
// owner change until it is acknowledged. Awaited commands get their result
// back through Reply and Await.
type Commands interface {
	// Send queues a command.
	Send(ctx context.Context, c Command) error
	// Consume hands queued commands to fn until ctx ends; a command is
	// acknowledged when fn returns nil.
	Consume(ctx context.Context, tenant, node string, fn func(context.Context, Command) error) error
	// Reply stores the result of command id for its sender, for ResultTTL.
	// A result may be stored before its sender awaits it.
	Reply(ctx context.Context, tenant, id string, r CommandResult) error
	// Await waits for the result of command id until ctx ends (then it
	// returns ctx's error). A result is handed out once.
	Await(ctx context.Context, tenant, id string) (CommandResult, error)
}

// Console keeps what the operator console shows of the whole cluster:
// each node's status record and the audit log of console actions. Both
// are opaque JSON; their types are the console's.
type Console interface {
	// PutStatus stores node's status record until ttl has passed (a
	// node rewrites it every few seconds while it lives).
	PutStatus(ctx context.Context, node string, status json.RawMessage, ttl time.Duration) error
	// Statuses returns the status records that have not expired, by node.
	// It reads one place, whatever the number of nodes.
	Statuses(ctx context.Context) (map[string]json.RawMessage, error)
	// Audit appends an entry to the audit log and keeps its newest max.
	Audit(ctx context.Context, entry json.RawMessage, max int) error
	// AuditLog returns the newest n entries, newest first.
	AuditLog(ctx context.Context, n int) ([]json.RawMessage, error)
	// Request queues an action for node (e.g. drain); the node takes it
	// with TakeRequests. A request no node takes within RequestTTL is
	// dropped.
	Request(ctx context.Context, node string, req json.RawMessage) error
	// TakeRequests returns and removes node's queued requests, oldest
	// first; each is taken once.
	TakeRequests(ctx context.Context, node string) ([]json.RawMessage, error)
}

// RequestTTL is how long a console request waits for its node.
const RequestTTL = time.Minute

// Backend bundles the implementations a node runs with.
type Backend struct {
	Tokens    Tokens
	Sessions  Sessions
	Ownership Ownership
	Bus       Bus
	Commands  Commands
	Console   Console
	// Ready reports whether the backend is reachable (nil) or why not.
	Ready func(ctx context.Context) error
	// Close releases the backend's connections.
	Close func() error
}
