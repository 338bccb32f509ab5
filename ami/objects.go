package ami

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ctiws/ctiws/pbx"
)

// Objects is the per-tenant static PBX configuration that AMI does not
// provide (astproxy's ast_objects.json): trunks, queue names and dynamic
// members, the ConfBridge room prefix and the parking lots. See
// docs/objects-file.md.
type Objects struct {
	// Trunks maps the trunk endpoint name to its settings. Only endpoints
	// listed here are trunks.
	Trunks map[string]TrunkConfig `json:"trunks"`
	// Queues maps the queue number to its settings. When nil (absent from
	// the file) every queue Asterisk reports is kept; when present, only
	// these.
	Queues map[string]QueueConfig `json:"queues"`
	// ConfBridgePrefix is the feature code before the owner extension in
	// a conference room name ("8" → room "8201" belongs to 201).
	ConfBridgePrefix string `json:"confbridge_prefix"`
	// Parkings maps a parking lot name to its settings. When empty every
	// lot Asterisk reports is kept; when set, only these lots, and the
	// spaces given here are used if Asterisk does not list the lot.
	Parkings map[string]ParkingConfig `json:"parkings"`
	// TransferContext is the dialplan context of blind and attended
	// transfers (astproxy's transfer_context; default "from-internal").
	TransferContext string `json:"transfer_context"`
	// PickupPrefix is the directed pickup feature code dialled before the
	// ringing extension (astproxy's feature_codes.pickup; default "**").
	PickupPrefix string `json:"pickup_prefix"`
}

// TrunkConfig describes a trunk.
type TrunkConfig struct {
	Name string `json:"name"`
	// Tech is "pjsip" (default), "sip" or "iax".
	Tech string `json:"tech"`
	// MaxChannels defaults to 4.
	MaxChannels int    `json:"maxchannels"`
	Host        string `json:"host"`
	Username    string `json:"username"`
}

// QueueConfig describes a queue.
type QueueConfig struct {
	Name string `json:"name"`
	// DynMembers are the extensions allowed to log in and out of the
	// queue; absent ones are listed as logged out.
	DynMembers []string `json:"dynmembers"`
}

// ParkingConfig describes a parking lot.
type ParkingConfig struct {
	Start   int `json:"start"`
	Stop    int `json:"stop"`
	Timeout int `json:"timeout"`
}

// LoadObjects reads and validates an objects file.
func LoadObjects(path string) (*Objects, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read objects file: %w", err)
	}
	o, err := ParseObjects(b)
	if err != nil {
		return nil, fmt.Errorf("objects file %s: %w", path, err)
	}
	return o, nil
}

// ParseObjects decodes an objects file strictly: unknown fields, trailing
// data and invalid values are errors.
func ParseObjects(b []byte) (*Objects, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var o Objects
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode: trailing data after the JSON object")
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &o, nil
}

func (o *Objects) validate() error {
	for id, t := range o.Trunks {
		if id == "" || strings.ContainsAny(id, "/- ") {
			return fmt.Errorf("trunks: invalid trunk endpoint name %q", id)
		}
		switch strings.ToLower(t.Tech) {
		case "", "pjsip", "sip", "iax", "iax2":
		default:
			return fmt.Errorf("trunks.%s.tech: %q is not pjsip, sip or iax", id, t.Tech)
		}
		if t.MaxChannels < 0 {
			return fmt.Errorf("trunks.%s.maxchannels: negative", id)
		}
	}
	if o.TransferContext != "" && !pbx.ValidID(o.TransferContext) {
		return fmt.Errorf("transfer_context: %q is not a dialplan context name ([A-Za-z0-9_-])", o.TransferContext)
	}
	if o.PickupPrefix != "" && !pickupPrefixOK(o.PickupPrefix) {
		return fmt.Errorf("pickup_prefix: %q is not a feature code (digits, * and #, at most 8)", o.PickupPrefix)
	}
	for id, q := range o.Queues {
		if id == "" {
			return errors.New("queues: empty queue number")
		}
		for _, m := range q.DynMembers {
			if m == "" {
				return fmt.Errorf("queues.%s.dynmembers: empty extension", id)
			}
		}
	}
	for id, p := range o.Parkings {
		if id == "" {
			return errors.New("parkings: empty lot name")
		}
		if p.Start <= 0 || p.Stop < p.Start || p.Stop-p.Start > 1000 {
			return fmt.Errorf("parkings.%s: invalid space range %d..%d", id, p.Start, p.Stop)
		}
		if p.Timeout < 0 {
			return fmt.Errorf("parkings.%s.timeout: negative", id)
		}
	}
	return nil
}

// trunk returns the configuration of trunk id.
func (o *Objects) trunk(id string) (TrunkConfig, bool) {
	if o == nil {
		return TrunkConfig{}, false
	}
	t, ok := o.Trunks[id]
	return t, ok
}

// queueAllowed reports whether queue id is part of the model.
func (o *Objects) queueAllowed(id string) bool {
	if id == "" || id == "default" {
		return false
	}
	if o == nil || o.Queues == nil {
		return true
	}
	_, ok := o.Queues[id]
	return ok
}

func (o *Objects) queueName(id string) string {
	if o != nil {
		if q, ok := o.Queues[id]; ok && q.Name != "" {
			return q.Name
		}
	}
	return id
}

func (o *Objects) confPrefix() string {
	if o == nil {
		return ""
	}
	return o.ConfBridgePrefix
}

func pickupPrefixOK(s string) bool {
	if len(s) > 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c == '*' || c == '#') {
			return false
		}
	}
	return true
}

// transferContext is the context of transfers (default from-internal).
func (o *Objects) transferContext() string {
	if o == nil || o.TransferContext == "" {
		return "from-internal"
	}
	return o.TransferContext
}

// pickupPrefix is the directed pickup feature code (default "**").
func (o *Objects) pickupPrefix() string {
	if o == nil || o.PickupPrefix == "" {
		return "**"
	}
	return o.PickupPrefix
}
