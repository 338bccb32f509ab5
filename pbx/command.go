package pbx

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// The commands a user (or the owner, on a user's behalf) asks of the owner
// of a tenant's PBX: what a user wants the PBX to do. The command queue
// (cluster.Commands) carries them as a name and opaque JSON arguments
// (cluster.Command); this file is their vocabulary. The set is closed:
// every name has exactly one argument type (CommandArgs), commands are
// built only from those types (cluster.NewCommand takes a CommandArgs)
// and decoded only into them (DecodeCommand), so a node cannot queue a
// command the owner does not know.

// The command names (cluster.Command.Name), one per argument type below.
const (
	CmdUserLoggedIn     = "userLoggedIn"
	CmdUserLoggedOut    = "userLoggedOut"
	CmdPresence         = "presence"
	CmdQueueLogin       = "queueLogin"
	CmdQueueLogout      = "queueLogout"
	CmdCall             = "call"
	CmdHangup           = "hangup"
	CmdBlindTransfer    = "blindTransfer"
	CmdAttendedTransfer = "attendedTransfer"
	CmdPark             = "park"
	CmdPickupParking    = "pickupParking"
	CmdPickupConv       = "pickupConv"
	CmdStartRecord      = "startRecord"
	CmdStopRecord       = "stopRecord"
	CmdMuteRecord       = "muteRecord"
	CmdUnmuteRecord     = "unmuteRecord"
	CmdIntrude          = "intrude"
	CmdListen           = "listen"
)

// CommandArgs is the typed argument of one command. Only the types of this
// file implement it (the method set is sealed by an unexported method); it
// satisfies cluster.Body, so cluster.NewCommand builds a command from it.
type CommandArgs interface {
	// CommandName is the command's name (CmdCall, …).
	CommandName() string
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

// CommandName implementations.
func (UserLoggedIn) CommandName() string     { return CmdUserLoggedIn }
func (UserLoggedOut) CommandName() string    { return CmdUserLoggedOut }
func (Presence) CommandName() string         { return CmdPresence }
func (QueueLogin) CommandName() string       { return CmdQueueLogin }
func (QueueLogout) CommandName() string      { return CmdQueueLogout }
func (Call) CommandName() string             { return CmdCall }
func (Hangup) CommandName() string           { return CmdHangup }
func (BlindTransfer) CommandName() string    { return CmdBlindTransfer }
func (AttendedTransfer) CommandName() string { return CmdAttendedTransfer }
func (Park) CommandName() string             { return CmdPark }
func (PickupParking) CommandName() string    { return CmdPickupParking }
func (PickupConv) CommandName() string       { return CmdPickupConv }
func (StartRecord) CommandName() string      { return CmdStartRecord }
func (StopRecord) CommandName() string       { return CmdStopRecord }
func (MuteRecord) CommandName() string       { return CmdMuteRecord }
func (UnmuteRecord) CommandName() string     { return CmdUnmuteRecord }
func (Intrude) CommandName() string          { return CmdIntrude }
func (Listen) CommandName() string           { return CmdListen }

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

// decoders maps every command name to the decoder of its argument type.
var decoders = map[string]func([]byte) (CommandArgs, error){
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

// CommandNames lists every command name (for tests that prove each one is
// handled).
func CommandNames() []string {
	out := make([]string, 0, len(decoders))
	for k := range decoders {
		out = append(out, k)
	}
	return out
}

// ErrUnknownCommand is returned by DecodeCommand for a name outside the
// contract (e.g. a command written by an older or newer node). The owner
// answers it with 400 (cluster.ResultOf: it is a bad command).
var ErrUnknownCommand error = badCommand("pbx: unknown command kind")

// ErrBadCommandArgs is returned by DecodeCommand for arguments that are not
// the JSON of the command's type (unknown fields included). The owner
// answers it with 400, like ErrUnknownCommand.
var ErrBadCommandArgs error = badCommand("pbx: bad command arguments")

// badCommand is the type of the decoding errors: a command its sender got
// wrong.
type badCommand string

// Error returns the message.
func (e badCommand) Error() string { return string(e) }

// BadCommand marks the error as the sender's fault, which cluster.ResultOf
// answers with 400 without knowing this package.
func (badCommand) BadCommand() bool { return true }

// DecodeCommand returns the typed arguments of the command name with the
// JSON arguments raw (cluster.Command.Name and .Args).
func DecodeCommand(name string, raw []byte) (CommandArgs, error) {
	dec, ok := decoders[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownCommand, truncateName(name))
	}
	return dec(raw)
}

// KnownCommand reports whether name is a command of the contract (for
// metric labels: an unknown name read from the queue must not create a
// label value).
func KnownCommand(name string) bool {
	_, ok := decoders[name]
	return ok
}

// truncateName bounds a command name quoted in an error.
func truncateName(s string) string {
	if len(s) > 32 {
		s = s[:32]
	}
	return s
}

func decodeAs[T CommandArgs](raw []byte) (CommandArgs, error) {
	var v T
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadCommandArgs, v.CommandName(), err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: %s: trailing data", ErrBadCommandArgs, v.CommandName())
	}
	return v, nil
}
