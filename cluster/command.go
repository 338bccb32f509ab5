package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Body is the typed argument of a command: its name and, as its JSON
// encoding, the command's arguments. The queue does not know the set of
// commands; the PBX vocabulary defines it (pbx.CommandArgs implements
// Body, pbx.DecodeCommand reads a command back).
type Body interface {
	// CommandName is the command's name (Command.Name).
	CommandName() string
}

// NewCommand builds the command carrying body for tenant on behalf of user.
func NewCommand(tenant, user string, body Body) Command {
	raw, err := json.Marshal(body)
	if err != nil { // the argument types are plain structs of strings
		panic(fmt.Sprintf("cluster: encode %s arguments: %v", body.CommandName(), err))
	}
	return Command{Tenant: tenant, Name: body.CommandName(), User: user, Args: raw}
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

// Expired reports whether c carries a deadline that has passed at now.
func (c Command) Expired(now time.Time) bool {
	return c.Expires > 0 && now.UnixMilli() > c.Expires
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
	// in time, 429 when the user had too many commands pending, 500 when
	// the PBX failed it.
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
	// ErrCommandBusy: the user already has as many commands pending at
	// the owner as it allows (max_pending_commands_per_user); it was not
	// carried out: 429.
	ErrCommandBusy = errors.New("too many pending commands of this user")
)

// ResultOf turns the outcome of a command into its result: nil error → 200
// with data; the Err… refusals above → their status, a bad command (one
// the PBX vocabulary could not decode) → 400; anything else → 500.
// The first class that matches wins, in the order of the list above (a bad
// command ranks with ErrCommandInvalid).
func ResultOf(data json.RawMessage, err error) CommandResult {
	if err == nil {
		return CommandResult{Status: 200, Data: data}
	}
	st := 500
	switch {
	case errors.Is(err, ErrCommandInvalid), isBadCommand(err):
		st = 400
	case errors.Is(err, ErrCommandForbidden):
		st = 403
	case errors.Is(err, ErrCommandNotFound):
		st = 404
	case errors.Is(err, ErrCommandExpired):
		st = 504
	case errors.Is(err, ErrCommandUnavailable):
		st = 503
	case errors.Is(err, ErrCommandBusy):
		st = 429
	}
	return CommandResult{Status: st, Error: err.Error()}
}

// ResultTTL is how long an unclaimed command result is kept.
const ResultTTL = time.Minute

// isBadCommand reports whether err says the command itself is unreadable:
// the decoding errors of the PBX vocabulary (pbx.ErrUnknownCommand,
// pbx.ErrBadCommandArgs) mark themselves with a BadCommand method.
func isBadCommand(err error) bool {
	var b interface{ BadCommand() bool }
	return errors.As(err, &b) && b.BadCommand()
}
