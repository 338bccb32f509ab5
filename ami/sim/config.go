package sim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Extension is one PJSIP extension of the simulated PBX.
type Extension struct {
	// ID is the extension number and PJSIP endpoint name, e.g. "201".
	ID string `yaml:"id"`
	// Name is the caller-id name, e.g. "Alice Rossi".
	Name string `yaml:"name"`
}

// Queue is one app_queue queue. Members are extension ids; they are
// reached through FreePBX style Local/<ext>@from-queue/n channels.
type Queue struct {
	// Number is the queue number (dialable), e.g. "401".
	Number string `yaml:"number"`
	// Name is a display name (not sent over AMI, kept for configuration).
	Name string `yaml:"name"`
	// Static members are always logged in (Membership: static).
	Static []string `yaml:"static"`
	// Dynamic members are logged in at start (Membership: dynamic) and can be
	// removed or re-added with QueueRemove/QueueAdd.
	Dynamic []string `yaml:"dynamic"`
	// Strategy is "ringall" (every free member rings at once, each through
	// its own Local channel pair) or "" (one free member at a time).
	Strategy string `yaml:"strategy"`
}

// Trunk is the single PJSIP trunk with an outbound registration.
type Trunk struct {
	// Name is the PJSIP endpoint name, e.g. "trunk1".
	Name string `yaml:"name"`
	// Host is the provider's SIP server.
	Host string `yaml:"host"`
	// Username is the registration user (also the DID of inbound calls).
	Username string `yaml:"username"`
}

// Parking is the single res_parking lot.
type Parking struct {
	// Name is the lot name ("default").
	Name string `yaml:"name"`
	// Start and Stop are the first and last parking space (71..78).
	Start int `yaml:"start"`
	Stop  int `yaml:"stop"`
	// Timeout is the parking timeout.
	Timeout time.Duration `yaml:"timeout"`
}

// Conference is the single ConfBridge room.
type Conference struct {
	// Room is the conference name: confbridge feature code + owner
	// extension, e.g. "987201".
	Room string `yaml:"room"`
}

// Mix weights the generated scenarios. A zero weight disables a scenario.
type Mix struct {
	Internal   int `yaml:"internal"`   // extension calls extension
	Queue      int `yaml:"queue"`      // trunk or extension calls a queue
	Inbound    int `yaml:"inbound"`    // trunk calls an extension
	Park       int `yaml:"park"`       // a call is parked and retrieved or given up
	Conference int `yaml:"conference"` // extensions join and leave the room
	Features   int `yaml:"features"`   // DND / call forward toggles, voicemail checks
	Flap       int `yaml:"flap"`       // a phone or the trunk registration goes away and comes back
	Transfer   int `yaml:"transfer"`   // an answered call is transferred, blind or attended
	Pickup     int `yaml:"pickup"`     // a ringing call is picked up from another phone (directed pickup)
	Record     int `yaml:"record"`     // an answered call is recorded (MixMonitor), sometimes muted
}

func (m Mix) total() int {
	return m.Internal + m.Queue + m.Inbound + m.Park + m.Conference + m.Features + m.Flap + m.Transfer + m.Pickup + m.Record
}

// Config configures a Server. Start from DefaultConfig.
type Config struct {
	// Username and Secret are the AMI credentials accepted by Login.
	Username string `yaml:"username"`
	Secret   string `yaml:"secret"`

	// Extensions, Queues, Trunk, Parking and Conference describe the PBX.
	Extensions []Extension `yaml:"extensions"`
	Queues     []Queue     `yaml:"queues"`
	Trunk      Trunk       `yaml:"trunk"`
	Parking    Parking     `yaml:"parking"`
	Conference Conference  `yaml:"conference"`

	// Unanswered lists extensions whose phone nobody picks up when an
	// Originate rings it: it rings until the Originate's Timeout, then
	// OriginateResponse reports a failure (reason 3, no answer).
	Unanswered []string `yaml:"unanswered"`

	// CallsPerSecond is the rate at which scenarios start (0 = no traffic).
	CallsPerSecond float64 `yaml:"calls_per_second"`
	// AvgCallDuration is the mean talk time of a call.
	AvgCallDuration time.Duration `yaml:"avg_call_duration"`
	// AvgRingTime is the mean time a phone rings before it is answered.
	AvgRingTime time.Duration `yaml:"avg_ring_time"`
	// Mix weights the scenarios.
	Mix Mix `yaml:"mix"`
	// Seed seeds the server's RNG: same seed, same config, same Epoch =>
	// the same event sequence.
	Seed int64 `yaml:"seed"`
	// Epoch is the unix time (seconds) the simulated clock starts at; it is
	// the integer part of Uniqueids. 0 means the wall clock at New.
	Epoch int64 `yaml:"epoch"`
	// StartPaused starts the generator paused (see Server.SetPaused).
	StartPaused bool `yaml:"start_paused"`

	// ChangesPerSecond is the rate of bench changes (0 = off): ContactStatus
	// events whose UserAgent is "bench/<seq>/<unix-nanos-at-write>",
	// round-robin over the extensions.
	ChangesPerSecond float64 `yaml:"changes_per_second"`
	// BenchPresence makes every bench change also move the extension's
	// presence, like real PBX traffic: the phone goes in use (or back to
	// idle) first (DeviceStateChange, ExtensionStatus), then the marker
	// ContactStatus follows. A client then gets an extenUpdate and a
	// userMainPresenceUpdate per change.
	BenchPresence bool `yaml:"bench_presence"`

	// Transcripts switches the server to replay mode: file paths or
	// transcript contents (a string containing a newline is contents).
	// Connection n plays transcript n; the last one repeats.
	Transcripts []string `yaml:"transcripts"`

	// AMIVersion is announced in the banner.
	AMIVersion string `yaml:"ami_version"`
	// AsteriskVersion is reported by "core show version".
	AsteriskVersion string `yaml:"asterisk_version"`
	// WriteTimeout bounds one write to a client.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MaxPendingBytes is how much output may queue for one client before it
	// is disconnected as too slow.
	MaxPendingBytes int `yaml:"max_pending_bytes"`
}

// ExtensionRange returns extensions first..last with generated names.
func ExtensionRange(first, last int) []Extension {
	defaultNames := [...]string{
		"Alice Rossi", "Bruno Bianchi", "Carla Verdi", "Dario Neri", "Elena Gallo",
		"Franco Costa", "Giulia Fontana", "Luca Conti", "Marta Greco", "Nicola Ricci",
		"Olga Marino", "Paolo Moretti", "Rita Barbieri", "Sergio Lombardi", "Teresa Villa",
		"Ugo Ferri", "Valeria Serra", "Walter Mancini", "Zoe Rinaldi", "Aldo Caruso",
	}
	var out []Extension
	for n := first; n <= last; n++ {
		i := n - first
		name := defaultNames[i%len(defaultNames)]
		if i >= len(defaultNames) {
			name = fmt.Sprintf("%s %d", name, i/len(defaultNames)+1)
		}
		out = append(out, Extension{ID: strconv.Itoa(n), Name: name})
	}
	return out
}

// DefaultConfig returns a small NethVoice-like PBX: extensions 201..212,
// queues 401 and 402, trunk "trunk1", parking 71..78, room 987201, one call
// every two seconds, credentials proxycti/proxycti.
func DefaultConfig() Config {
	return Config{
		Username:   "proxycti",
		Secret:     "proxycti",
		Extensions: ExtensionRange(201, 212),
		Queues: []Queue{
			{Number: "401", Name: "Support", Static: []string{"201", "202"}, Dynamic: []string{"203", "204"}, Strategy: "ringall"},
			{Number: "402", Name: "Sales", Static: []string{"205"}, Dynamic: []string{"206", "207"}},
		},
		Trunk:           Trunk{Name: "trunk1", Host: "sip.provider.example", Username: "0721405516"},
		Parking:         Parking{Name: "default", Start: 71, Stop: 78, Timeout: 45 * time.Second},
		Conference:      Conference{Room: "987201"},
		CallsPerSecond:  0.5,
		AvgCallDuration: 30 * time.Second,
		AvgRingTime:     4 * time.Second,
		Mix:             Mix{Internal: 25, Queue: 20, Inbound: 15, Park: 5, Conference: 5, Features: 10, Flap: 5, Transfer: 5, Pickup: 5, Record: 5},
		Seed:            1,
		AMIVersion:      "7.0.3",
		AsteriskVersion: "20.5.2",
		WriteTimeout:    10 * time.Second,
		MaxPendingBytes: 32 << 20,
	}
}

// Validate reports every problem of the configuration, joined. It also
// parses the transcripts.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Username == "" {
		bad("username is empty")
	}
	if len(c.Transcripts) == 0 {
		errs = append(errs, c.validatePBX()...)
	}
	for i, t := range c.Transcripts {
		if _, err := loadTranscript(t); err != nil {
			bad("transcript %d: %w", i+1, err)
		}
	}
	if c.ChangesPerSecond < 0 || c.ChangesPerSecond > 1e6 {
		bad("changes_per_second %v out of range [0, 1e6]", c.ChangesPerSecond)
	}
	if c.ChangesPerSecond > 0 && len(c.Extensions) == 0 {
		bad("changes_per_second needs extensions")
	}
	if c.WriteTimeout <= 0 {
		bad("write_timeout must be positive")
	}
	if c.MaxPendingBytes < 64<<10 {
		bad("max_pending_bytes %d too small (min 65536)", c.MaxPendingBytes)
	}
	return errors.Join(errs...)
}

func (c *Config) validatePBX() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	ids := map[string]bool{}
	for i, e := range c.Extensions {
		switch {
		case !validID(e.ID):
			bad("extension %d: id %q must be 1-32 characters without '-', '/', '@', ';', ':' or spaces", i+1, e.ID)
		case ids[e.ID]:
			bad("extension %d: duplicate id %q", i+1, e.ID)
		}
		ids[e.ID] = true
	}
	queues := map[string]bool{}
	for i, q := range c.Queues {
		if !validID(q.Number) {
			bad("queue %d: bad number %q", i+1, q.Number)
		}
		if queues[q.Number] {
			bad("queue %d: duplicate number %q", i+1, q.Number)
		}
		queues[q.Number] = true
		if q.Strategy != "" && q.Strategy != "ringall" {
			bad("queue %s: strategy %q is not \"ringall\" or empty", q.Number, q.Strategy)
		}
		seen := map[string]bool{}
		for _, m := range append(append([]string(nil), q.Static...), q.Dynamic...) {
			if !ids[m] {
				bad("queue %s: member %q is not a configured extension", q.Number, m)
			}
			if seen[m] {
				bad("queue %s: member %q listed twice", q.Number, m)
			}
			seen[m] = true
		}
	}
	if !validID(c.Trunk.Name) {
		bad("trunk: bad name %q", c.Trunk.Name)
	} else if ids[c.Trunk.Name] {
		bad("trunk: name %q is also an extension", c.Trunk.Name)
	}
	if c.Trunk.Host == "" || c.Trunk.Username == "" {
		bad("trunk: host and username are required")
	}
	if c.Parking.Name == "" || c.Parking.Start <= 0 || c.Parking.Stop < c.Parking.Start || c.Parking.Stop-c.Parking.Start > 1000 {
		bad("parking: need a name and 0 < start <= stop (at most 1000 spaces), got %q %d..%d", c.Parking.Name, c.Parking.Start, c.Parking.Stop)
	}
	if c.Parking.Timeout < time.Second {
		bad("parking: timeout must be at least 1s")
	}
	if !validID(c.Conference.Room) {
		bad("conference: bad room %q", c.Conference.Room)
	}
	if c.CallsPerSecond < 0 || c.CallsPerSecond > 10000 {
		bad("calls_per_second %v out of range [0, 10000]", c.CallsPerSecond)
	}
	if c.AvgCallDuration < time.Millisecond || c.AvgRingTime < time.Millisecond {
		bad("avg_call_duration and avg_ring_time must be at least 1ms")
	}
	if c.Mix.Internal < 0 || c.Mix.Queue < 0 || c.Mix.Inbound < 0 || c.Mix.Park < 0 ||
		c.Mix.Conference < 0 || c.Mix.Features < 0 || c.Mix.Flap < 0 {
		bad("mix: weights must not be negative")
	}
	if c.CallsPerSecond > 0 {
		if c.Mix.total() == 0 {
			bad("mix: all weights are zero but calls_per_second > 0")
		}
		if len(c.Extensions) < 2 {
			bad("generated traffic needs at least 2 extensions")
		}
	}
	if c.Epoch < 0 {
		bad("epoch must not be negative")
	}
	return errs
}

func validID(s string) bool {
	return s != "" && len(s) <= 32 && !strings.ContainsAny(s, "-/@;: \t\r\n&,")
}
