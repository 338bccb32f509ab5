package ws

import (
	"net"
	"strings"
	"sync/atomic"

	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/ws/auth"
)

// TenantConfig is the reloadable part of a tenant: its users, privacy
// string and credentials. A reload swaps the whole value at once.
type TenantConfig struct {
	Directory   *directory.Directory
	Privacy     string
	AuthEnabled bool
	Htpasswd    *auth.Htpasswd // nil: no password logins
	JWTSecret   []byte         // empty: JWTs refused
	// AlarmSecret, when set, lets a monitoring agent post alarms with
	// `Authorization: Alarm <secret>`; users need the qmanager permission.
	AlarmSecret []byte
	// JWTPreviousSecret is also accepted while JWTs signed with a
	// replaced secret run out (secret rotation); empty: none.
	JWTPreviousSecret []byte
	// Streams are the streaming source ids users may subscribe to.
	Streams []string
	// StreamSources describe the streaming sources for
	// GET /streaming/sources (same order and ids as Streams).
	StreamSources []StreamSource
	// FeatureCodes answer GET /astproxy/feature_codes; nil means
	// DefaultFeatureCodes.
	FeatureCodes map[string]string
	// ParamURLs are the parameterized URLs per profile id
	// (GET /user/paramurl).
	ParamURLs map[string]ParamURL
	// Avatars maps lower-cased usernames to their avatar (a data: URL) for
	// GET /user/all_avatars.
	Avatars map[string]string
}

// StreamSource is a streaming source as GET /streaming/sources shows it.
// Its credentials are never shown.
type StreamSource struct {
	ID          string
	URL         string
	Framerate   float64
	Extension   string
	Description string
	CmdOpen     string
}

// ParamURL is the URL the CTI opens for incoming calls of a profile.
type ParamURL struct {
	URL        string
	OnlyQueues bool
}

// DefaultFeatureCodes are the feature codes served when the tenant
// configures none: NethVoice's pickup code and the audio test that
// phone-island dials.
func DefaultFeatureCodes() map[string]string {
	return map[string]string{"pickup": "*8", "audio_test": "*41"}
}

// Tenant is one PBX served by the node.
type Tenant struct {
	ID    string
	Hosts []string

	cfg atomic.Pointer[TenantConfig]
	// sockets are the tenant's logged-in sockets on this node.
	sockets *socketIndex
	// router routes the tenant's bus events to its sockets.
	router *router
	// stop ends the tenant's router (set when it starts; under the
	// server's tenantsMu).
	stop func()
	// passwords are the password fingerprints this node last published
	// (Tokens.SyncPasswords' previous); nil until the first one.
	passwords atomic.Pointer[map[string]string]
	// passwordsPending: the last publication failed (the store was
	// unreachable); the heartbeat retries it.
	passwordsPending atomic.Bool
}

// NewTenant returns a tenant with its initial configuration.
func NewTenant(id string, hosts []string, cfg *TenantConfig) *Tenant {
	t := &Tenant{ID: id, Hosts: hosts}
	if cfg.Directory == nil {
		cfg.Directory = directory.Empty()
	}
	t.cfg.Store(cfg)
	return t
}

// Config returns the tenant's current configuration.
func (t *Tenant) Config() *TenantConfig { return t.cfg.Load() }

// tenantSet is the tenants a node serves, by Host header and by id; it
// selects the tenant of a request.
type tenantSet struct {
	byHost map[string]*Tenant
	byID   map[string]*Tenant
	only   *Tenant // the single tenant without hosts, if that is the setup
	all    []*Tenant
}

func newTenantSet(ts []*Tenant) *tenantSet {
	r := &tenantSet{byHost: map[string]*Tenant{}, byID: map[string]*Tenant{}, all: ts}
	for _, t := range ts {
		r.byID[t.ID] = t
		for _, h := range t.Hosts {
			r.byHost[strings.ToLower(h)] = t
		}
	}
	if len(ts) == 1 && len(ts[0].Hosts) == 0 {
		r.only = ts[0]
	}
	return r
}

// lookup returns the tenant for a Host header value (port ignored,
// case-insensitive), or nil.
func (r *tenantSet) lookup(host string) *Tenant {
	if r.only != nil {
		return r.only
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return r.byHost[host]
}
