package cluster

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// CommandKind names a command for the owner of a tenant's PBX. The set is
// closed: every kind has exactly one argument type (CommandArgs), commands
// are built only from those types (NewCommand) and decoded only into them
// (Command.Decode), so a node cannot queue a command the owner does not know.
type CommandKind string

// The command kinds, one per argument type below.
const (
	CmdUserLoggedIn     CommandKind = "userLoggedIn"
	CmdUserLoggedOut    CommandKind = "userLoggedOut"
	CmdPresence         CommandKind = "presence"
	CmdQueueLogin       CommandKind = "queueLogin"
	CmdQueueLogout      CommandKind = "queueLogout"
	CmdCall             CommandKind = "call"
	CmdHangup           CommandKind = "hangup"
	CmdBlindTransfer    CommandKind = "blindTransfer"
	CmdAttendedTransfer CommandKind = "attendedTransfer"
	CmdPark             CommandKind = "park"
	CmdPickupParking    CommandKind = "pickupParking"
	CmdPickupConv       CommandKind = "pickupConv"
	CmdStartRecord      CommandKind = "startRecord"
	CmdStopRecord       CommandKind = "stopRecord"
	CmdMuteRecord       CommandKind = "muteRecord"
	CmdUnmuteRecord     CommandKind = "unmuteRecord"
	CmdIntrude          CommandKind = "intrude"
	CmdListen           CommandKind = "listen"
)

// CommandArgs is the typed argument of one command kind. Only the types of
// this package implement it (the method set is sealed by an unexported
// method).
type CommandArgs interface {
	Kind() CommandKind
	sealed()
}

// UserLoggedIn: the user's first socket in the cluster logged in (the owner
// applies the user's login settings). The user is Command.User.
type UserLoggedIn struct{}

// UserLoggedOut: the user's last socket in the cluster went away.
type UserLoggedOut struct{}

// Presence sets the presence of an extension: Status is dnd, online,
// callforward (to the number To), voicemail or cellphone.
type Presence struct {
	Exten  string `json:"exten"`
	Status string `json:"status"`
	To     string `json:"to,omitempty"`
}

// QueueLogin logs an extension in to the queues where it is a dynamic
// member (or only Queue).
type QueueLogin struct {
	Exten string `json:"exten"`
	Queue string `json:"queue,omitempty"`
}

// QueueLogout logs an extension out of its dynamic queues (or only Queue).
type QueueLogout struct {
	Exten string `json:"exten"`
	Queue string `json:"queue,omitempty"`
}

// Call makes the physical phone Exten call Number (AMI Originate through the
// extension: its phone rings first, then Number is dialled).
type Call struct {
	Exten  string `json:"exten"`
	Number string `json:"number"`
}

// Conv names a conversation of an extension (the id astproxy gives it,
// "<source channel>><dest channel>").
type Conv struct {
	Exten  string `json:"exten"`
	ConvID string `json:"convid"`
}

// Hangup hangs up the extension's channel of a conversation.
type Hangup struct{ Conv }

// BlindTransfer transfers the other party of a conversation to To.
type BlindTransfer struct {
	Conv
	To string `json:"to"`
}

// AttendedTransfer starts an attended transfer of a conversation to To.
type AttendedTransfer struct {
	Conv
	To string `json:"to"`
}

// Park parks the other party of a conversation; Applicant is the extension
// that asked (one of the two parties).
type Park struct {
	Conv
	Applicant string `json:"applicant"`
}

// PickupParking connects the call parked in space Parking to extension Dest.
type PickupParking struct {
	Parking string `json:"parking"`
	Dest    string `json:"dest"`
}

// PickupConv picks up the call ringing on Exten from extension Dest
// (directed pickup).
type PickupConv struct {
	Exten string `json:"exten"`
	Dest  string `json:"dest"`
}

// StartRecord starts recording a conversation.
type StartRecord struct{ Conv }

// StopRecord stops recording a conversation.
type StopRecord struct{ Conv }

// MuteRecord mutes the recording of a conversation.
type MuteRecord struct{ Conv }

// UnmuteRecord unmutes the recording of a conversation.
type UnmuteRecord struct{ Conv }

// Intrude calls extension Dest and lets it listen to and speak with Exten
// in the conversation (ChanSpy whisper).
type Intrude struct {
	Conv
	Dest string `json:"dest"`
}

// Listen calls extension Dest and lets it listen to the conversation of
// Exten (ChanSpy).
type Listen struct {
	Conv
	Dest string `json:"dest"`
}

// Kind implementations.
func (UserLoggedIn) Kind() CommandKind     { return CmdUserLoggedIn }
func (UserLoggedOut) Kind() CommandKind    { return CmdUserLoggedOut }
func (Presence) Kind() CommandKind         { return CmdPresence }
func (QueueLogin) Kind() CommandKind       { return CmdQueueLogin }
func (QueueLogout) Kind() CommandKind      { return CmdQueueLogout }
func (Call) Kind() CommandKind             { return CmdCall }
func (Hangup) Kind() CommandKind           { return CmdHangup }
func (BlindTransfer) Kind() CommandKind    { return CmdBlindTransfer }
func (AttendedTransfer) Kind() CommandKind { return CmdAttendedTransfer }
func (Park) Kind() CommandKind             { return CmdPark }
func (PickupParking) Kind() CommandKind    { return CmdPickupParking }
func (PickupConv) Kind() CommandKind       { return CmdPickupConv }
func (StartRecord) Kind() CommandKind      { return CmdStartRecord }
func (StopRecord) Kind() CommandKind       { return CmdStopRecord }
func (MuteRecord) Kind() CommandKind       { return CmdMuteRecord }
func (UnmuteRecord) Kind() CommandKind     { return CmdUnmuteRecord }
func (Intrude) Kind() CommandKind          { return CmdIntrude }
func (Listen) Kind() CommandKind           { return CmdListen }

func (UserLoggedIn) sealed()     {}
func (UserLoggedOut) sealed()    {}
func (Presence) sealed()         {}
func (QueueLogin) sealed()       {}
func (QueueLogout) sealed()      {}
func (Call) sealed()             {}
func (Hangup) sealed()           {}
func (BlindTransfer) sealed()    {}
func (AttendedTransfer) sealed() {}
func (Park) sealed()             {}
func (PickupParking) sealed()    {}
func (PickupConv) sealed()       {}
func (StartRecord) sealed()      {}
func (StopRecord) sealed()       {}
func (MuteRecord) sealed()       {}
func (UnmuteRecord) sealed()     {}
func (Intrude) sealed()          {}
func (Listen) sealed()           {}

// decoders maps every kind to the decoder of its argument type.
var decoders = map[CommandKind]func([]byte) (CommandArgs, error){
	CmdUserLoggedIn:     decodeAs[UserLoggedIn],
	CmdUserLoggedOut:    decodeAs[UserLoggedOut],
	CmdPresence:         decodeAs[Presence],
	CmdQueueLogin:       decodeAs[QueueLogin],
	CmdQueueLogout:      decodeAs[QueueLogout],
	CmdCall:             decodeAs[Call],
	CmdHangup:           decodeAs[Hangup],
	CmdBlindTransfer:    decodeAs[BlindTransfer],
	CmdAttendedTransfer: decodeAs[AttendedTransfer],
	CmdPark:             decodeAs[Park],
	CmdPickupParking:    decodeAs[PickupParking],
	CmdPickupConv:       decodeAs[PickupConv],
	CmdStartRecord:      decodeAs[StartRecord],
	CmdStopRecord:       decodeAs[StopRecord],
	CmdMuteRecord:       decodeAs[MuteRecord],
	CmdUnmuteRecord:     decodeAs[UnmuteRecord],
	CmdIntrude:          decodeAs[Intrude],
	CmdListen:           decodeAs[Listen],
}

// CommandKinds lists every command kind (for tests that prove each one is
// handled).
func CommandKinds() []CommandKind {
	out := make([]CommandKind, 0, len(decoders))
	for k := range decoders {
		out = append(out, k)
	}
	return out
}

// ErrUnknownCommand is returned by Decode for a kind outside the contract
// (e.g. a command written by an older or newer node).
var ErrUnknownCommand = errors.New("cluster: unknown command kind")

// ErrBadCommandArgs is returned by Decode for arguments that are not the
// JSON of the kind's type (unknown fields included).
var ErrBadCommandArgs = errors.New("cluster: bad command arguments")

func decodeAs[T CommandArgs](raw []byte) (CommandArgs, error) {
	var v T
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadCommandArgs, v.Kind(), err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: %s: trailing data", ErrBadCommandArgs, v.Kind())
	}
	return v, nil
}

// NewCommand builds the command carrying args for tenant on behalf of user.
func NewCommand(tenant, user string, args CommandArgs) Command {
	raw, err := json.Marshal(args)
	if err != nil { // the argument types are plain structs of strings
		panic(fmt.Sprintf("cluster: encode %s arguments: %v", args.Kind(), err))
	}
	return Command{Tenant: tenant, Name: args.Kind(), User: user, Args: raw}
}

// WithReply marks c as awaited: it gets a fresh ID, the owner publishes its
// result (Commands.Reply) and drops it unexecuted once the deadline has
// passed (a click that timed out must not ring a phone a minute later).
func (c Command) WithReply(deadline time.Time) Command {
	c.ID = NewCommandID()
	c.Reply = true
	c.Expires = deadline.UnixMilli()
	return c
}

// Decode returns the typed arguments of c.
func (c Command) Decode() (CommandArgs, error) {
	dec, ok := decoders[c.Name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownCommand, truncateKind(c.Name))
	}
	return dec(c.Args)
}

// Expired reports whether c carries a deadline that has passed at now.
func (c Command) Expired(now time.Time) bool {
	return c.Expires > 0 && now.UnixMilli() > c.Expires
}

func truncateKind(k CommandKind) string {
	s := string(k)
	if len(s) > 32 {
		s = s[:32]
	}
	return s
}

// NewCommandID returns a random command id (the reply address of an
// awaited command).
func NewCommandID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// CommandResult is the owner's answer to an awaited command.
type CommandResult struct {
	// Status is the HTTP status the requester answers with: 200 for
	// success, 4xx when the owner refused the command (see the Err…
	// classes below), 503 when the owner's PBX connection was not ready
	// in time, 500 when the PBX failed it.
	Status int `json:"status"`
	// Error says why the command failed ("" on success). It never quotes
	// the user's input verbatim.
	Error string `json:"error,omitempty"`
	// Data is the command's result on success (e.g. {"uniqueid": …} for a
	// call), or absent.
	Data json.RawMessage `json:"data,omitempty"`
}

// Refusals the owner reports with a 4xx (or 503) status instead of 500.
var (
	// ErrCommandInvalid: the arguments are not acceptable (bad number,
	// bad id): 400.
	ErrCommandInvalid = errors.New("invalid command arguments")
	// ErrCommandForbidden: the objects named do not allow it (e.g. the
	// applicant is not part of the conversation): 403.
	ErrCommandForbidden = errors.New("command not allowed on this object")
	// ErrCommandNotFound: the extension, conversation or parking named
	// does not exist (any more): 404.
	ErrCommandNotFound = errors.New("no such object")
	// ErrCommandExpired: the requester stopped waiting before the owner
	// got to the command; it was not carried out: 504.
	ErrCommandExpired = errors.New("command expired before it was carried out")
	// ErrCommandUnavailable: the owner's PBX connection was not ready
	// (not connected, or its start-up snapshot not done) within the
	// owner's wait; it was not carried out: 503.
	ErrCommandUnavailable = errors.New("the PBX is not connected")
)

// ResultOf turns the outcome of a command into its result: nil error → 200
// with data; the Err… refusals above → their status; anything else → 500.
// The first class that matches wins, in the order of the list above.
func ResultOf(data json.RawMessage, err error) CommandResult {
	if err == nil {
		return CommandResult{Status: 200, Data: data}
	}
	st := 500
	switch {
	case errors.Is(err, ErrCommandInvalid), errors.Is(err, ErrUnknownCommand), errors.Is(err, ErrBadCommandArgs):
		st = 400
	case errors.Is(err, ErrCommandForbidden):
		st = 403
	case errors.Is(err, ErrCommandNotFound):
		st = 404
	case errors.Is(err, ErrCommandExpired):
		st = 504
	case errors.Is(err, ErrCommandUnavailable):
		st = 503
	}
	return CommandResult{Status: st, Error: err.Error()}
}

// ResultTTL is how long an unclaimed command result is kept.
const ResultTTL = time.Minute

// Known reports whether k is a kind of the contract (for metric labels:
// an unknown kind read from the queue must not create a label value).
func (k CommandKind) Known() bool {
	_, ok := decoders[k]
	return ok
}
