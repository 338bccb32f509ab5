// Package config loads and validates the ctiws configuration file
// (YAML, field names as in the README), applies CTIWS_<FIELD> environment
// overrides to top-level scalars, and reads every file a tenant refers to.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/ownership"
	"github.com/ctiws/ctiws/ws"
	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration file.
type Config struct {
	Listen        string `yaml:"listen"`
	MetricsListen string `yaml:"metrics_listen"`
	RedisURL      string `yaml:"redis_url"`
	// Redis credentials, TLS and Sentinel settings beside redis_url (see
	// redis.go and the README's configuration section). The *_file
	// fields are read by Load into the field without the suffix.
	RedisUsername             string        `yaml:"redis_username"`
	RedisPassword             string        `yaml:"redis_password"`
	RedisPasswordFile         string        `yaml:"redis_password_file"`
	RedisSentinelUsername     string        `yaml:"redis_sentinel_username"`
	RedisSentinelPassword     string        `yaml:"redis_sentinel_password"`
	RedisSentinelPasswordFile string        `yaml:"redis_sentinel_password_file"`
	RedisTLSCAFile            string        `yaml:"redis_tls_ca_file"`
	RedisTLSCertFile          string        `yaml:"redis_tls_cert_file"`
	RedisTLSKeyFile           string        `yaml:"redis_tls_key_file"`
	NodeID                    string        `yaml:"node_id"`
	TokenTTL                  time.Duration `yaml:"token_ttl"`
	MaxMessageBytes           int64         `yaml:"max_message_bytes"`
	DrainTimeout              time.Duration `yaml:"drain_timeout"`
	MaxConnectionLifetime     time.Duration `yaml:"max_connection_lifetime"`
	LeaseTTL                  time.Duration `yaml:"lease_ttl"`
	// HtpasswdPollInterval is how often a node reads its tenants'
	// htpasswd files and reloads when one changed, without a SIGHUP (a
	// mounted Kubernetes Secret changes under the process).
	HtpasswdPollInterval time.Duration `yaml:"htpasswd_poll_interval"`
	// OwnerStartRate bounds how many PBX ownerships (lease, AMI
	// connection, snapshot) a node starts per second: after a cold start
	// or the death of a node, neither Redis nor the PBXs see a herd.
	OwnerStartRate float64       `yaml:"owner_start_rate"`
	LoginTimeout   time.Duration `yaml:"login_timeout"`
	PingInterval   time.Duration `yaml:"ping_interval"`
	PingTimeout    time.Duration `yaml:"ping_timeout"`
	LogLevel       string        `yaml:"log_level"`
	// MetricsPerTenant keeps the tenant label on /metrics (default); false
	// sums every series over its tenants, for big farms (node-wide totals,
	// a /metrics size that does not grow with the tenants).
	MetricsPerTenant bool `yaml:"metrics_per_tenant"`
	// Pprof serves net/http/pprof on metrics_listen (for profiling).
	Pprof bool `yaml:"pprof"`
	// DeliverEveryState turns state conflation off: every state frame is
	// sent, even when a newer state of the same object is already queued
	// for a socket (for recordings and debugging; a slow reader is then
	// disconnected sooner).
	DeliverEveryState bool     `yaml:"deliver_every_state"`
	AllowedOrigins    []string `yaml:"allowed_origins"`
	// WSReadMode is how sockets are read (ws.Options.ReadMode): "epoll"
	// (an idle socket has no goroutine; Linux, plain TCP) or "goroutine"
	// (one reading goroutine per socket, the way back).
	WSReadMode string `yaml:"ws_read_mode"`

	// HTTP server limits: a request's headers and body must arrive within
	// HTTPReadTimeout, a REST response leave within HTTPWriteTimeout, and
	// an idle keep-alive connection is closed after HTTPIdleTimeout.
	// Websockets are not bound by them once upgraded.
	HTTPReadTimeout    time.Duration `yaml:"http_read_timeout"`
	HTTPWriteTimeout   time.Duration `yaml:"http_write_timeout"`
	HTTPIdleTimeout    time.Duration `yaml:"http_idle_timeout"`
	HTTPMaxHeaderBytes int           `yaml:"http_max_header_bytes"`

	// User-to-user payload limits (see ws.Limits).
	MaxAvatarBytes       int `yaml:"max_avatar_bytes"`
	MaxAvatarDimension   int `yaml:"max_avatar_dimension"`
	MaxPostitBytes       int `yaml:"max_postit_bytes"`
	RelayMaxBytes        int `yaml:"relay_max_bytes"`
	RelayRate            int `yaml:"relay_rate"`
	RelayBurst           int `yaml:"relay_burst"`
	RelayDisconnectAfter int `yaml:"relay_disconnect_after"`
	// Per-user rates (per second, and burst) of what a user sends to
	// others across all of their sockets and requests, per node; and the
	// cap on a user's logged-in sockets in the cluster (see ws.Limits).
	UserRelayRate     float64 `yaml:"user_relay_rate"`
	UserRelayBurst    int     `yaml:"user_relay_burst"`
	UserPostitRate    float64 `yaml:"user_postit_rate"`
	UserPostitBurst   int     `yaml:"user_postit_burst"`
	UserAvatarRate    float64 `yaml:"user_avatar_rate"`
	UserAvatarBurst   int     `yaml:"user_avatar_burst"`
	UserPresenceRate  float64 `yaml:"user_presence_rate"`
	UserPresenceBurst int     `yaml:"user_presence_burst"`
	MaxSocketsPerUser int     `yaml:"max_sockets_per_user"`

	// MaxPendingCommandsPerUser bounds a user's call control requests
	// that the PBX owner has accepted and not answered yet (429 beyond);
	// MaxConcurrentCommands bounds a tenant's commands the owner carries
	// out at once. The owner's own values apply.
	MaxPendingCommandsPerUser int `yaml:"max_pending_commands_per_user"`
	MaxConcurrentCommands     int `yaml:"max_concurrent_commands"`

	// JWTMaxLifetime is the longest exp - iat of an accepted JWT.
	JWTMaxLifetime time.Duration `yaml:"jwt_max_lifetime"`
	// JWTClockSkew is how far in the future a JWT's iat and nbf may lie.
	JWTClockSkew time.Duration `yaml:"jwt_clock_skew"`
	// MaxPersistentTokens caps the persistent (auth-exp: no-exp) tokens
	// of a user; the oldest is evicted.
	MaxPersistentTokens int `yaml:"max_persistent_tokens"`
	// Login back-off: failures before the lock starts, per user and per
	// client address; first lock and longest lock.
	LoginFreeFailures        int           `yaml:"login_free_failures"`
	LoginAddressFreeFailures int           `yaml:"login_address_free_failures"`
	LoginBackoffBase         time.Duration `yaml:"login_backoff_base"`
	LoginBackoffMax          time.Duration `yaml:"login_backoff_max"`
	// TrustedProxies are addresses or CIDRs whose X-Forwarded-For is
	// believed for the client address of login rate limits.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// BcryptConcurrency bounds concurrent password checks on a node;
	// BcryptQueue bounds each tenant's waiting checks.
	BcryptConcurrency int `yaml:"bcrypt_concurrency"`
	BcryptQueue       int `yaml:"bcrypt_queue"`
	// BcryptPerAddress and BcryptPerUser bound the password checks one
	// client address, and one user, may have running or waiting in a
	// tenant.
	BcryptPerAddress int `yaml:"bcrypt_per_address"`
	BcryptPerUser    int `yaml:"bcrypt_per_user"`

	// Console is the operator console on metrics_listen (off unless set).
	Console Console `yaml:"console"`

	Tenants []Tenant `yaml:"tenants"`
	// TenantsDir is a folder with one sub-folder per tenant (its
	// tenant.yaml, a tenant entry, plus the files it names, relative to
	// that folder); relative to the config file. Its tenants come after
	// the inline ones; the node watches it.
	TenantsDir string `yaml:"tenants_dir"`

	// Path is the file the configuration was read from.
	Path string `yaml:"-"`
	// TenantErrors are the tenant folders of TenantsDir that were refused
	// (broken or conflicting files), by folder name (= tenant id).
	TenantErrors map[string]error `yaml:"-"`
}

// Tenant is one PBX and its users.
type Tenant struct {
	ID             string   `yaml:"id"`
	Hosts          []string `yaml:"hosts"`
	AMI            AMI      `yaml:"ami"`
	PrivacyNumbers *string  `yaml:"privacy_numbers"`
	Auth           Auth     `yaml:"auth"`
	UsersFile      string   `yaml:"users_file"`
	ProfilesFile   string   `yaml:"profiles_file"`
	ObjectsFile    string   `yaml:"objects_file"`
	Streaming      []Stream `yaml:"streaming"`
	// FeatureCodes answer GET /astproxy/feature_codes (nil: NethVoice's
	// defaults, see README).
	FeatureCodes map[string]string `yaml:"feature_codes"`
	// ParamURLs are the parameterized URLs per profile id
	// (GET /user/paramurl).
	ParamURLs map[string]ParamURL `yaml:"param_urls"`
	// AvatarsFile is a JSON object username → avatar data: URL
	// (GET /user/all_avatars).
	AvatarsFile string `yaml:"avatars_file"`

	// Avatars is the parsed avatars file (set by Load).
	Avatars map[string]string `yaml:"-"`
	// Directory is the parsed users and profiles (set by Load).
	Directory *directory.Directory `yaml:"-"`
	// Htpasswd holds the contents of the htpasswd file (set by Load).
	Htpasswd []byte `yaml:"-"`
	// Fingerprint changes when the tenant's entry or any of its files
	// changes (set by Load): a reload leaves unchanged tenants alone.
	Fingerprint string `yaml:"-"`
	// ObjectsDigest is a digest of the objects file's contents as Load
	// read them: a reload compares it with the running tenant's to tell
	// whether the PBX must start over with new objects.
	ObjectsDigest string `yaml:"-"`
}

// Privacy returns the privacy replacement string ("xxx" when not set; an
// explicit empty string disables masking, like the original).
func (t *Tenant) Privacy() string {
	if t.PrivacyNumbers == nil {
		return "xxx"
	}
	return *t.PrivacyNumbers
}

// AMI is how to reach the tenant's Asterisk Manager Interface.
type AMI struct {
	Address    string `yaml:"address"` // "host:port" or "sim"
	Username   string `yaml:"username"`
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// SimCallsPerSecond and SimSeed tune the built-in simulated PBX
	// (address "sim"); nil keeps the simulator's default rate.
	SimCallsPerSecond *float64 `yaml:"sim_calls_per_second"`
	SimSeed           int64    `yaml:"sim_seed"`
}

// Auth configures how users of a tenant authenticate.
type Auth struct {
	Enabled       *bool  `yaml:"enabled"`
	HtpasswdFile  string `yaml:"htpasswd_file"`
	JWTSecret     string `yaml:"jwt_secret"`
	JWTSecretFile string `yaml:"jwt_secret_file"`
	// AlarmSecret (or AlarmSecretFile) is the shared secret a monitoring
	// agent presents to POST /webrest/alarm; empty: only users with the
	// qmanager permission may post alarms.
	AlarmSecret     string `yaml:"alarm_secret"`
	AlarmSecretFile string `yaml:"alarm_secret_file"`
	// JWTSecretPrevious is still accepted (never used to sign) while
	// the JWTs of a replaced secret run out: secret rotation without
	// downtime.
	JWTSecretPrevious     string `yaml:"jwt_secret_previous"`
	JWTSecretPreviousFile string `yaml:"jwt_secret_previous_file"`
}

// IsEnabled reports whether authentication is on (the default).
func (a Auth) IsEnabled() bool { return a.Enabled == nil || *a.Enabled }

// Stream is a streaming source (e.g. a door camera) polled by the owner.
type Stream struct {
	ID        string  `yaml:"id"`
	URL       string  `yaml:"url"`
	Framerate float64 `yaml:"framerate"`
	// Extension, Description and CmdOpen are shown by
	// GET /streaming/sources (the door phone's extension and the DTMF
	// that opens the door).
	Extension   string `yaml:"extension"`
	Description string `yaml:"description"`
	CmdOpen     string `yaml:"cmd_open"`
}

// ParamURL is the URL the CTI opens for the incoming calls of a profile.
type ParamURL struct {
	URL        string `yaml:"url"`
	OnlyQueues bool   `yaml:"only_queues"`
}

// DefaultHtpasswdPollInterval is the default htpasswd_poll_interval.
const DefaultHtpasswdPollInterval = 5 * time.Second

// Defaults returns a configuration with every default set.
func Defaults() Config {
	return Config{
		Listen:               "127.0.0.1:8181",
		MetricsListen:        "127.0.0.1:9464",
		TokenTTL:             ws.DefaultTokenTTL,
		MaxMessageBytes:      ws.DefaultMaxMessageBytes,
		DrainTimeout:         10 * time.Second,
		LeaseTTL:             ownership.DefaultLeaseTTL,
		HtpasswdPollInterval: DefaultHtpasswdPollInterval,
		OwnerStartRate:       ownership.DefaultStartRate,
		MetricsPerTenant:     true,
		LoginTimeout:         ws.DefaultLoginTimeout,
		PingInterval:         ws.DefaultPingInterval,
		PingTimeout:          ws.DefaultPingTimeout,
		LogLevel:             "info",
		WSReadMode:           ws.ReadModeEpoll,

		HTTPReadTimeout:    15 * time.Second,
		HTTPWriteTimeout:   15 * time.Second,
		HTTPIdleTimeout:    20 * time.Second,
		HTTPMaxHeaderBytes: 16 << 10,

		MaxAvatarBytes:       ws.DefaultAvatarBytes,
		MaxAvatarDimension:   ws.DefaultAvatarDimension,
		MaxPostitBytes:       ws.DefaultPostitBytes,
		RelayMaxBytes:        ws.DefaultRelayBytes,
		RelayRate:            ws.DefaultRelayRate,
		RelayBurst:           ws.DefaultRelayBurst,
		RelayDisconnectAfter: ws.DefaultRelayDisconnectAfter,
		UserRelayRate:        ws.DefaultUserRelayRate,
		UserRelayBurst:       ws.DefaultUserRelayBurst,
		UserPostitRate:       ws.DefaultUserPostitRate,
		UserPostitBurst:      ws.DefaultUserPostitBurst,
		UserAvatarRate:       ws.DefaultUserAvatarRate,
		UserAvatarBurst:      ws.DefaultUserAvatarBurst,
		UserPresenceRate:     ws.DefaultUserPresenceRate,
		UserPresenceBurst:    ws.DefaultUserPresenceBurst,
		MaxSocketsPerUser:    ws.DefaultMaxSocketsPerUser,

		MaxPendingCommandsPerUser: ownership.DefaultMaxPendingPerUser,
		MaxConcurrentCommands:     ownership.DefaultMaxConcurrentCommands,

		JWTMaxLifetime:           ws.DefaultJWTMaxLifetime,
		JWTClockSkew:             ws.DefaultJWTClockSkew,
		MaxPersistentTokens:      ws.DefaultMaxPersistentTokens,
		LoginFreeFailures:        ws.DefaultLoginFreeUser,
		LoginAddressFreeFailures: ws.DefaultLoginFreeAddress,
		LoginBackoffBase:         ws.DefaultLoginBackoffBase,
		LoginBackoffMax:          ws.DefaultLoginBackoffMax,
		BcryptConcurrency:        ws.DefaultBcryptConcurrency,
		BcryptQueue:              ws.DefaultBcryptQueue,
		BcryptPerAddress:         ws.DefaultBcryptPerAddress,
		BcryptPerUser:            ws.DefaultBcryptPerUser,
	}
}

// MinSecretLen is the shortest jwt_secret, jwt_secret_previous and
// alarm_secret accepted (inline or from a file), in bytes: a shorter HS256
// key or alarm secret can be guessed offline from one token or online.
const MinSecretLen = 16

// Error is a configuration problem; the command exits with code 2 on it.
type Error struct {
	File string
	Err  error
}

func (e *Error) Error() string {
	if e.File == "" {
		return "config: " + e.Err.Error()
	}
	return "config " + e.File + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Load reads the file at path, applies environment overrides from env
// (usually os.Environ), validates everything and loads the tenant files.
func Load(path string, env []string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Err: fmt.Errorf("read: %w", err)}
	}
	cfg, err := Parse(raw, env)
	if err != nil {
		return nil, &Error{File: path, Err: err}
	}
	cfg.Path = path
	if err := cfg.loadFiles(filepath.Dir(path)); err != nil {
		return nil, err
	}
	if cfg.TenantsDir != "" {
		dir := cfg.TenantsDir
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(filepath.Dir(path), dir)
		}
		cfg.TenantsDir = dir
		if err := cfg.loadTenantsDir(dir); err != nil {
			return nil, &Error{File: path, Err: err}
		}
	}
	return cfg, nil
}

// TenantFile is the file of a tenant folder in tenants_dir.
const TenantFile = "tenant.yaml"

// loadTenantsDir adds the tenants of dir's sub-folders. A folder whose
// files are broken, or that shares a host with another tenant (then every
// folder sharing it: a running tenant keeps running as it was, a new one
// is not added), is left out and recorded in TenantErrors; only an
// unreadable dir fails.
func (c *Config) loadTenantsDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("tenants_dir: %w", err)
	}
	c.TenantErrors = map[string]error{}
	fail := func(name string, err error) {
		c.TenantErrors[name] = fmt.Errorf("%s: %w", filepath.Join(dir, name, TenantFile), err)
	}
	owners := map[string][]string{} // host, "id:" + id or "jwt:" + secret → tenants using it
	claim := func(t Tenant) {
		owners["id:"+t.ID] = append(owners["id:"+t.ID], t.ID)
		for _, h := range t.Hosts {
			owners[strings.ToLower(h)] = append(owners[strings.ToLower(h)], t.ID)
		}
		for _, sec := range []string{t.Auth.JWTSecret, t.Auth.JWTSecretPrevious} {
			if sec != "" && !slices.Contains(owners["jwt:"+sec], t.ID) {
				owners["jwt:"+sec] = append(owners["jwt:"+sec], t.ID)
			}
		}
	}
	for _, t := range c.Tenants {
		claim(t)
	}
	var loaded []Tenant
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		t, err := loadTenantFolder(filepath.Join(dir, name), name)
		if err != nil {
			fail(name, err)
			continue
		}
		claim(t)
		loaded = append(loaded, t)
	}
	for _, t := range loaded {
		var err error
		if len(owners["id:"+t.ID]) > 1 {
			err = fmt.Errorf("tenant %s is also defined in the tenants list", t.ID)
		}
		for _, h := range t.Hosts {
			if o := owners[strings.ToLower(h)]; err == nil && len(o) > 1 {
				err = fmt.Errorf("host %q is also used by tenant(s) %s", h, strings.Join(slices.DeleteFunc(slices.Clone(o), func(id string) bool { return id == t.ID }), ", "))
			}
		}
		for _, sec := range []string{t.Auth.JWTSecret, t.Auth.JWTSecretPrevious} {
			if o := owners["jwt:"+sec]; err == nil && sec != "" && len(o) > 1 {
				// The secret itself is never logged.
				err = fmt.Errorf("auth: its JWT secret is also configured for tenant(s) %s; a JWT without an audience would be valid for both: give every tenant its own jwt_secret",
					strings.Join(slices.DeleteFunc(slices.Clone(o), func(id string) bool { return id == t.ID }), ", "))
			}
		}
		if err != nil {
			fail(t.ID, err)
			continue
		}
		c.Tenants = append(c.Tenants, t)
	}
	return nil
}

// loadTenantFolder reads one tenant folder: its tenant.yaml (the id
// defaults to the folder name and must equal it) and its files.
func loadTenantFolder(folder, name string) (Tenant, error) {
	path := filepath.Join(folder, TenantFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return Tenant{}, fmt.Errorf("read: %w", err)
	}
	var t Tenant
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil && !errors.Is(err, io.EOF) {
		return Tenant{}, fmt.Errorf("parse: %s", nameFields(err.Error(), raw))
	}
	if t.ID == "" {
		t.ID = name
	}
	if t.ID != name {
		return Tenant{}, fmt.Errorf("id %q differs from its folder %q", t.ID, name)
	}
	if len(t.Hosts) == 0 {
		return Tenant{}, errors.New("hosts: a tenant of tenants_dir needs hosts")
	}
	one := Defaults()
	one.Tenants = []Tenant{t}
	if err := one.validate(); err != nil {
		return Tenant{}, err
	}
	one.Path = path
	if err := one.loadFiles(folder); err != nil {
		return Tenant{}, err
	}
	return one.Tenants[0], nil
}

// Parse decodes and validates a configuration without reading tenant files.
func Parse(raw []byte, env []string) (*Config, error) {
	cfg := Defaults()
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	// An empty document (io.EOF) means "all defaults".
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse: %s", nameFields(err.Error(), raw))
	}
	if err := applyEnv(&cfg, env); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

var yamlLine = regexp.MustCompile(`line (\d+): `)

// nameFields adds the field name to each "line N: …" of a YAML error, so
// the message names the field and not only the line.
func nameFields(msg string, raw []byte) string {
	lines := strings.Split(string(raw), "\n")
	return yamlLine.ReplaceAllStringFunc(msg, func(m string) string {
		n, err := strconv.Atoi(yamlLine.FindStringSubmatch(m)[1])
		if err != nil || n < 1 || n > len(lines) {
			return m
		}
		key, _, ok := strings.Cut(strings.TrimLeft(strings.TrimSpace(lines[n-1]), "- "), ":")
		if !ok {
			return m
		}
		return fmt.Sprintf("line %d (field %s): ", n, strings.TrimSpace(key))
	})
}

// envPrefix starts every environment variable ctiws reads.
const envPrefix = "CTIWS_"

// envFields maps each CTIWS_<FIELD> variable the environment can set (the
// top-level scalar fields of Config) to the field's index.
func envFields() map[string]int {
	rt := reflect.TypeOf(Config{})
	out := map[string]int{}
	for i := 0; i < rt.NumField(); i++ {
		tag := strings.Split(rt.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		switch t := rt.Field(i).Type; {
		case t == reflect.TypeOf(time.Duration(0)), t.Kind() == reflect.Bool, t.Kind() == reflect.String,
			t.Kind() == reflect.Int64, t.Kind() == reflect.Int, t.Kind() == reflect.Float64:
			out[envPrefix+strings.ToUpper(tag)] = i
		}
	}
	return out
}

// UnknownEnv is a CTIWS_ environment variable that sets no config field,
// most likely a misspelling.
type UnknownEnv struct {
	// Name is the variable, e.g. CTIWS_LISTN.
	Name string
	// Suggestion is the closest variable that does set a field (e.g.
	// CTIWS_LISTEN), or "" when none is close.
	Suggestion string
}

// serviceLinkEnv matches the variables Kubernetes puts in every pod for
// each Service of the namespace (enableServiceLinks, on by default): a
// Service named ctiws or ctiws-redis yields CTIWS_SERVICE_HOST,
// CTIWS_PORT_8181_TCP_ADDR, CTIWS_REDIS_PORT and the like.
var serviceLinkEnv = regexp.MustCompile(`_SERVICE_HOST$|_SERVICE_PORT(_[A-Z0-9_]+)?$|_PORT$|_PORT_[0-9]+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?$`)

// UnknownEnvVars returns the CTIWS_ variables of env (as os.Environ) that
// match no config field, are not in others (variables other commands
// read, e.g. CTIWS_WATCH_PASSWORD) and are not Kubernetes service links,
// sorted by name. Callers log them: applyEnv would otherwise ignore a
// misspelled override silently.
func UnknownEnvVars(env []string, others ...string) []UnknownEnv {
	fields := envFields()
	var out []UnknownEnv
	for _, kv := range env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, envPrefix) || slices.Contains(others, k) {
			continue
		}
		if _, known := fields[k]; known || serviceLinkEnv.MatchString(k) {
			continue
		}
		out = append(out, UnknownEnv{Name: k, Suggestion: closest(k, fields)})
	}
	slices.SortFunc(out, func(a, b UnknownEnv) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// closest returns the name of fields nearest to name in edit distance, if
// it is within a third of name's length after the prefix (at least 1).
func closest(name string, fields map[string]int) string {
	best, bestD := "", len(name)
	for f := range fields {
		if d := editDistance(name, f); d < bestD || d == bestD && f < best {
			best, bestD = f, d
		}
	}
	if bestD > max(1, (len(name)-len(envPrefix))/3) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// applyEnv overrides every top-level scalar field from CTIWS_<FIELD>.
// Variables that match no field are left to UnknownEnvVars.
func applyEnv(cfg *Config, env []string) error {
	vals := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, envPrefix) {
			vals[k] = v
		}
	}
	rv := reflect.ValueOf(cfg).Elem()
	for name, i := range envFields() {
		v, ok := vals[name]
		if !ok {
			continue
		}
		f := rv.Field(i)
		switch {
		case f.Type() == reflect.TypeOf(time.Duration(0)):
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("environment %s: %q is not a duration (e.g. 10s, 1h)", name, v)
			}
			f.SetInt(int64(d))
		case f.Kind() == reflect.Bool:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("environment %s: %q is not a boolean", name, v)
			}
			f.SetBool(b)
		case f.Kind() == reflect.String:
			f.SetString(v)
		case f.Kind() == reflect.Int64 || f.Kind() == reflect.Int:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("environment %s: %q is not an integer", name, v)
			}
			f.SetInt(n)
		case f.Kind() == reflect.Float64:
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("environment %s: %q is not a number", name, v)
			}
			f.SetFloat(n)
		}
	}
	return nil
}

var tenantID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (c *Config) validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %q is not host:port", c.Listen)
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			return fmt.Errorf("metrics_listen: %q is not host:port", c.MetricsListen)
		}
	}
	if err := c.validateRedis(); err != nil {
		return err
	}
	positive := []struct {
		name string
		d    time.Duration
	}{
		{"token_ttl", c.TokenTTL}, {"drain_timeout", c.DrainTimeout}, {"lease_ttl", c.LeaseTTL},
		{"htpasswd_poll_interval", c.HtpasswdPollInterval},
		{"login_timeout", c.LoginTimeout}, {"ping_interval", c.PingInterval}, {"ping_timeout", c.PingTimeout},
		{"jwt_max_lifetime", c.JWTMaxLifetime}, {"login_backoff_base", c.LoginBackoffBase}, {"login_backoff_max", c.LoginBackoffMax},
	}
	for _, p := range positive {
		if p.d <= 0 {
			return fmt.Errorf("%s: must be a positive duration, got %v", p.name, p.d)
		}
	}
	if err := c.validateLimits(); err != nil {
		return err
	}
	if err := c.validateConsole(); err != nil {
		return err
	}
	if err := c.validateSecurity(); err != nil {
		return err
	}
	if c.MaxConnectionLifetime < 0 {
		return fmt.Errorf("max_connection_lifetime: must not be negative")
	}
	if c.LeaseTTL < time.Second {
		return fmt.Errorf("lease_ttl: must be at least 1s, got %v", c.LeaseTTL)
	}
	if c.OwnerStartRate < 1 || c.OwnerStartRate > 10000 {
		return fmt.Errorf("owner_start_rate: must be between 1 and 10000 per second, got %v", c.OwnerStartRate)
	}
	if c.MaxMessageBytes < 1024 || c.MaxMessageBytes > 16<<20 {
		return fmt.Errorf("max_message_bytes: must be between 1024 and 16777216, got %d", c.MaxMessageBytes)
	}
	switch c.WSReadMode {
	case ws.ReadModeEpoll, ws.ReadModeGoroutine:
	default:
		return fmt.Errorf("ws_read_mode: must be epoll or goroutine, got %q", c.WSReadMode)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level: must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if len(c.Tenants) == 0 && c.TenantsDir == "" {
		return errors.New("tenants: at least one tenant is required (or a tenants_dir)")
	}
	ids := map[string]bool{}
	hosts := map[string]string{}
	for i := range c.Tenants {
		t := &c.Tenants[i]
		where := fmt.Sprintf("tenants[%d]", i)
		if !tenantID.MatchString(t.ID) {
			return fmt.Errorf("%s.id: %q must be 1-63 characters of a-z, 0-9, '-' or '_'", where, t.ID)
		}
		where = fmt.Sprintf("tenants[%d] (%s)", i, t.ID)
		if ids[t.ID] {
			return fmt.Errorf("%s.id: duplicate tenant id %q", where, t.ID)
		}
		ids[t.ID] = true
		if (len(c.Tenants) > 1 || c.TenantsDir != "") && len(t.Hosts) == 0 {
			return fmt.Errorf("%s.hosts: with several tenants every tenant needs hosts", where)
		}
		for _, h := range t.Hosts {
			h = strings.ToLower(h)
			if other, dup := hosts[h]; dup {
				return fmt.Errorf("%s.hosts: host %q is also used by tenant %q", where, h, other)
			}
			hosts[h] = t.ID
		}
		if t.AMI.Address == "" {
			return fmt.Errorf("%s.ami.address: required (\"host:port\" or \"sim\")", where)
		}
		if t.AMI.Address != "sim" {
			if _, _, err := net.SplitHostPort(t.AMI.Address); err != nil {
				return fmt.Errorf("%s.ami.address: %q is not host:port or \"sim\"", where, t.AMI.Address)
			}
		}
		if t.AMI.SimCallsPerSecond != nil && (t.AMI.Address != "sim" || *t.AMI.SimCallsPerSecond < 0 || *t.AMI.SimCallsPerSecond > 1000) {
			return fmt.Errorf("%s.ami.sim_calls_per_second: only with address \"sim\", between 0 and 1000", where)
		}
		if t.AMI.Secret != "" && t.AMI.SecretFile != "" {
			return fmt.Errorf("%s.ami: set secret or secret_file, not both", where)
		}
		if t.Auth.JWTSecret != "" && t.Auth.JWTSecretFile != "" {
			return fmt.Errorf("%s.auth: set jwt_secret or jwt_secret_file, not both", where)
		}
		if t.Auth.AlarmSecret != "" && t.Auth.AlarmSecretFile != "" {
			return fmt.Errorf("%s.auth: set alarm_secret or alarm_secret_file, not both", where)
		}
		for _, s := range []struct{ field, v string }{
			{"alarm_secret", t.Auth.AlarmSecret}, {"jwt_secret", t.Auth.JWTSecret}, {"jwt_secret_previous", t.Auth.JWTSecretPrevious},
		} {
			if s.v != "" && len(s.v) < MinSecretLen {
				return fmt.Errorf("%s.auth.%s: at least %d characters", where, s.field, MinSecretLen)
			}
		}
		if t.Auth.JWTSecretPrevious != "" && t.Auth.JWTSecretPreviousFile != "" {
			return fmt.Errorf("%s.auth: set jwt_secret_previous or jwt_secret_previous_file, not both", where)
		}
		if (t.Auth.JWTSecretPrevious != "" || t.Auth.JWTSecretPreviousFile != "") && t.Auth.JWTSecret == "" && t.Auth.JWTSecretFile == "" {
			return fmt.Errorf("%s.auth.jwt_secret_previous: only with jwt_secret (the new secret)", where)
		}
		if t.UsersFile == "" {
			return fmt.Errorf("%s.users_file: required", where)
		}
		if t.ProfilesFile == "" {
			return fmt.Errorf("%s.profiles_file: required", where)
		}
		if t.Auth.IsEnabled() && t.Auth.HtpasswdFile == "" && t.Auth.JWTSecret == "" && t.Auth.JWTSecretFile == "" {
			return fmt.Errorf("%s.auth: enabled, but neither htpasswd_file nor jwt_secret is set", where)
		}
		seen := map[string]bool{}
		for j, s := range t.Streaming {
			if s.ID == "" || seen[strings.ToLower(s.ID)] {
				return fmt.Errorf("%s.streaming[%d].id: empty or duplicate", where, j)
			}
			seen[strings.ToLower(s.ID)] = true
			if !strings.HasPrefix(s.URL, "http://") && !strings.HasPrefix(s.URL, "https://") {
				return fmt.Errorf("%s.streaming[%d].url: must be an http(s) URL", where, j)
			}
			if s.Framerate < 0 || s.Framerate > 30 {
				return fmt.Errorf("%s.streaming[%d].framerate: must be between 0 and 30", where, j)
			}
		}
		for profile, p := range t.ParamURLs {
			if !strings.HasPrefix(p.URL, "http://") && !strings.HasPrefix(p.URL, "https://") {
				return fmt.Errorf("%s.param_urls[%q].url: must be an http(s) URL", where, profile)
			}
		}
		for name, code := range t.FeatureCodes {
			if name == "" || code == "" {
				return fmt.Errorf("%s.feature_codes: empty name or code", where)
			}
		}
	}
	return nil
}

// loadFiles resolves relative paths against dir and reads every tenant file.
func (c *Config) loadFiles(dir string) error {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	if err := c.loadRedisFiles(abs); err != nil {
		return &Error{File: c.Path, Err: err}
	}
	if err := c.loadConsole(abs); err != nil {
		return &Error{File: c.Path, Err: err}
	}
	for i := range c.Tenants {
		t := &c.Tenants[i]
		t.UsersFile = abs(t.UsersFile)
		t.ProfilesFile = abs(t.ProfilesFile)
		t.ObjectsFile = abs(t.ObjectsFile)
		t.Auth.HtpasswdFile = abs(t.Auth.HtpasswdFile)
		t.Auth.JWTSecretFile = abs(t.Auth.JWTSecretFile)
		t.Auth.JWTSecretPreviousFile = abs(t.Auth.JWTSecretPreviousFile)
		t.AMI.SecretFile = abs(t.AMI.SecretFile)
		t.Auth.AlarmSecretFile = abs(t.Auth.AlarmSecretFile)
		t.AvatarsFile = abs(t.AvatarsFile)
		if t.AvatarsFile != "" {
			av, err := loadAvatars(t.AvatarsFile)
			if err != nil {
				return &Error{File: c.Path, Err: fmt.Errorf("tenant %s: avatars_file: %w", t.ID, err)}
			}
			t.Avatars = av
		}
		d, err := directory.Load(t.UsersFile, t.ProfilesFile)
		if err != nil {
			return &Error{File: c.Path, Err: fmt.Errorf("tenant %s: %w", t.ID, err)}
		}
		t.Directory = d
		if t.Auth.HtpasswdFile != "" {
			b, err := os.ReadFile(t.Auth.HtpasswdFile)
			if err != nil {
				return &Error{File: c.Path, Err: fmt.Errorf("tenant %s: auth.htpasswd_file: %w", t.ID, err)}
			}
			t.Htpasswd = b
		}
		if t.Auth.JWTSecretFile != "" {
			b, err := os.ReadFile(t.Auth.JWTSecretFile)
			if err != nil {
				return &Error{File: c.Path, Err: fmt.Errorf("tenant %s: auth.jwt_secret_file: %w", t.ID, err)}
			}
			t.Auth.JWTSecret = strings.TrimSpace(string(b))
			if len(t.Auth.JWTSecret) < MinSecretLen {
				return &Error{File: c.Path, Err: fmt.Errorf("tenant %s: auth.jwt_secret_file: the secret needs at least %d characters", t.ID, MinSecretLen)}
			}
		}
		if t.Auth.JWTSecretPreviousFile != "" {
			b, err := os.ReadFile(t.Auth.JWTSecretPreviousFile)
			if err != nil {
				return &Error{File: c.Path, Err: fmt.Errorf("tenant %s: auth.jwt_secret_previous_file: %w", t.ID, err)}
			}
			t.Auth.JWTSecretPrevious = strings.TrimSpace(string(b))
			if len(t.Auth.JWTSecretPrevious) < MinSecretLen {
				return &Error{File: c.Path, Err: fmt.Errorf("tenant %s: auth.jwt_secret_previous_file: the secret needs at least %d characters", t.ID, MinSecretLen)}
			}
		}
		if t.AMI.SecretFile != "" {
			b, err := os.ReadFile(t.AMI.SecretFile)
			if err != nil {
				return &Error{File: c.Path, Err: fmt.Errorf("tenant %s: ami.secret_file: %w", t.ID, err)}
			}
			t.AMI.Secret = strings.TrimSpace(string(b))
		}
		if t.Auth.AlarmSecretFile != "" {
			b, err := os.ReadFile(t.Auth.AlarmSecretFile)
			if err != nil {
				return &Error{File: c.Path, Err: fmt.Errorf("tenant %s: auth.alarm_secret_file: %w", t.ID, err)}
			}
			t.Auth.AlarmSecret = strings.TrimSpace(string(b))
			if len(t.Auth.AlarmSecret) < MinSecretLen {
				return &Error{File: c.Path, Err: fmt.Errorf("tenant %s: auth.alarm_secret_file: the secret needs at least %d characters", t.ID, MinSecretLen)}
			}
		}
		if t.ObjectsFile != "" {
			raw, err := os.ReadFile(t.ObjectsFile)
			if err != nil {
				return &Error{File: c.Path, Err: fmt.Errorf("tenant %s: objects_file: %w", t.ID, err)}
			}
			sum := sha256.Sum256(raw)
			t.ObjectsDigest = hex.EncodeToString(sum[:])
		}
		t.Fingerprint = fingerprint(t)
	}
	if err := c.checkSharedSecrets(); err != nil {
		return &Error{File: c.Path, Err: err}
	}
	return nil
}

// validateSecurity checks the login, token and bcrypt limits.
func (c *Config) validateSecurity() error {
	if err := checkInts([]intField{
		{"max_persistent_tokens", c.MaxPersistentTokens, 1, 1000},
		{"login_free_failures", c.LoginFreeFailures, 1, 1000},
		{"login_address_free_failures", c.LoginAddressFreeFailures, 1, 100000},
		{"bcrypt_concurrency", c.BcryptConcurrency, 1, 256},
		{"bcrypt_queue", c.BcryptQueue, 1, 100000},
		{"bcrypt_per_address", c.BcryptPerAddress, 1, 100000},
		{"bcrypt_per_user", c.BcryptPerUser, 1, 100000},
	}); err != nil {
		return err
	}
	if c.JWTClockSkew < time.Second || c.JWTClockSkew > time.Hour {
		return fmt.Errorf("jwt_clock_skew: must be between 1s and 1h, got %v", c.JWTClockSkew)
	}
	if c.LoginBackoffMax < c.LoginBackoffBase {
		return fmt.Errorf("login_backoff_max: must be at least login_backoff_base (%v), got %v", c.LoginBackoffBase, c.LoginBackoffMax)
	}
	if _, err := c.TrustedProxyPrefixes(); err != nil {
		return err
	}
	return nil
}

// TrustedProxyPrefixes parses trusted_proxies (addresses or CIDRs).
func (c *Config) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(c.TrustedProxies))
	for i, s := range c.TrustedProxies {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies[%d]: %q is not an IP address or CIDR", i, s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// checkSharedSecrets refuses a JWT secret (current or previous) used by two
// tenants: a JWT without an audience (as nethcti-middleware issues them)
// would then log its user in to both tenants.
func (c *Config) checkSharedSecrets() error {
	owner := map[string]string{}
	for i := range c.Tenants {
		t := &c.Tenants[i]
		for _, sec := range []struct{ field, v string }{{"jwt_secret", t.Auth.JWTSecret}, {"jwt_secret_previous", t.Auth.JWTSecretPrevious}} {
			if sec.v == "" {
				continue
			}
			if other, ok := owner[sec.v]; ok && other != t.ID {
				return fmt.Errorf("tenants[%d] (%s).auth.%s: the same secret is configured for tenant %q; "+
					"a JWT without an audience would be valid for both tenants: give every tenant its own jwt_secret", i, t.ID, sec.field, other)
			}
			owner[sec.v] = t.ID
		}
	}
	return nil
}

// fingerprint hashes a tenant's entry (secrets included, as read) and the
// contents of its files.
func fingerprint(t *Tenant) string {
	h := sha256.New()
	entry := *t
	entry.Directory, entry.Fingerprint = nil, ""
	b, _ := json.Marshal(entry)
	h.Write(b)
	// The objects file is in the entry as ObjectsDigest (read once, by
	// Load).
	for _, f := range []string{t.UsersFile, t.ProfilesFile} {
		if f == "" {
			continue
		}
		raw, _ := os.ReadFile(f)
		fmt.Fprintf(h, "\x00%s\x00%d\x00", f, len(raw))
		h.Write(raw)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// loadAvatars reads a JSON object username → data:image/… URL; usernames
// are lower-cased.
func loadAvatars(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw map[string]string
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: want a JSON object of username → data: URL: %w", path, err)
	}
	out := make(map[string]string, len(raw))
	for user, url := range raw {
		if !strings.HasPrefix(url, "data:image/") {
			return nil, fmt.Errorf("%s: avatar of %q is not a data:image/… URL", path, user)
		}
		out[strings.ToLower(user)] = url
	}
	return out, nil
}
