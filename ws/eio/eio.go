// Package eio encodes and decodes the Engine.IO 4 / Socket.IO 5 text frames
// that NethCTI clients speak over a websocket (docs/protocol.md, section 1).
//
// Only what the websocket transport needs is implemented: text frames, the
// default namespace (other namespaces are decoded so they can be refused),
// events, acks, connect and disconnect. Binary attachments are refused.
package eio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Engine.IO packet types (the first byte of a frame).
const (
	EngineOpen    = '0'
	EngineClose   = '1'
	EnginePing    = '2'
	EnginePong    = '3'
	EngineMessage = '4'
	EngineUpgrade = '5'
	EngineNoop    = '6'
)

// Socket.IO packet types (the byte after an Engine.IO message '4').
const (
	SIOConnect      = '0'
	SIODisconnect   = '1'
	SIOEvent        = '2'
	SIOAck          = '3'
	SIOConnectError = '4'
	SIOBinaryEvent  = '5'
	SIOBinaryAck    = '6'
)

// Errors returned by Decode. They say why a frame was refused; callers count
// them by name.
var (
	ErrEmpty       = errors.New("eio: empty frame")
	ErrEngineType  = errors.New("eio: unknown engine.io packet type")
	ErrSIOType     = errors.New("eio: unknown socket.io packet type")
	ErrBinary      = errors.New("eio: binary socket.io packets are not supported")
	ErrAckID       = errors.New("eio: malformed ack id")
	ErrPayload     = errors.New("eio: payload is not valid JSON")
	ErrNotEvent    = errors.New("eio: event payload is not a non-empty array starting with a string")
	ErrNamespace   = errors.New("eio: malformed namespace")
	ErrInvalidUTF8 = errors.New("eio: frame is not valid UTF-8")
)

// NoAck is the AckID of a packet without an ack id.
const NoAck int64 = -1

// Frame is one decoded websocket text frame.
type Frame struct {
	// Engine is the Engine.IO packet type.
	Engine byte
	// SIO is the Socket.IO packet type when Engine is EngineMessage.
	SIO byte
	// Namespace is "/" unless the packet names another one.
	Namespace string
	// AckID is the ack id of an event or ack, or NoAck.
	AckID int64
	// Data is the raw JSON payload (may be empty). It aliases the input.
	Data []byte
}

// Decode parses one websocket text frame. It never panics; a malformed frame
// gives an error that names the problem.
func Decode(b []byte) (Frame, error) {
	f := Frame{Namespace: "/", AckID: NoAck}
	if len(b) == 0 {
		return f, ErrEmpty
	}
	if !utf8.Valid(b) {
		return f, ErrInvalidUTF8
	}
	f.Engine = b[0]
	switch f.Engine {
	case EngineOpen, EngineClose, EnginePing, EnginePong, EngineUpgrade, EngineNoop:
		f.Data = b[1:]
		return f, nil
	case EngineMessage:
	default:
		return f, ErrEngineType
	}
	if len(b) < 2 {
		return f, ErrSIOType
	}
	f.SIO = b[1]
	switch f.SIO {
	case SIOConnect, SIODisconnect, SIOEvent, SIOAck, SIOConnectError:
	case SIOBinaryEvent, SIOBinaryAck:
		return f, ErrBinary
	default:
		return f, ErrSIOType
	}
	rest := b[2:]
	if len(rest) > 0 && rest[0] == '/' {
		i := bytes.IndexByte(rest, ',')
		if i < 0 {
			// "40/admin" without payload is a valid connect to /admin.
			f.Namespace = string(rest)
			rest = nil
		} else {
			f.Namespace = string(rest[:i])
			rest = rest[i+1:]
		}
		if len(f.Namespace) > 256 {
			return f, ErrNamespace
		}
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n > 0 {
		if n > 15 {
			return f, ErrAckID
		}
		id, err := strconv.ParseInt(string(rest[:n]), 10, 64)
		if err != nil {
			return f, ErrAckID
		}
		f.AckID = id
		rest = rest[n:]
	}
	if len(rest) > 0 && !json.Valid(rest) {
		return f, ErrPayload
	}
	f.Data = rest
	return f, nil
}

// Event splits an event payload into its name and raw arguments.
func (f Frame) Event() (name string, args []json.RawMessage, err error) {
	var arr []json.RawMessage
	if err := json.Unmarshal(f.Data, &arr); err != nil || len(arr) == 0 {
		return "", nil, ErrNotEvent
	}
	if err := json.Unmarshal(arr[0], &name); err != nil {
		return "", nil, ErrNotEvent
	}
	return name, arr[1:], nil
}

// OpenPacket returns the Engine.IO open packet for a session.
func OpenPacket(sid string, pingIntervalMS, pingTimeoutMS, maxPayload int64) []byte {
	b := make([]byte, 0, 128)
	b = append(b, `0{"sid":`...)
	b = appendString(b, sid)
	b = append(b, `,"upgrades":[],"pingInterval":`...)
	b = strconv.AppendInt(b, pingIntervalMS, 10)
	b = append(b, `,"pingTimeout":`...)
	b = strconv.AppendInt(b, pingTimeoutMS, 10)
	b = append(b, `,"maxPayload":`...)
	b = strconv.AppendInt(b, maxPayload, 10)
	return append(b, '}')
}

// ConnectPacket returns the Socket.IO connect acknowledgement for the default
// namespace.
func ConnectPacket(socketID string) []byte {
	b := append(make([]byte, 0, 48), `40{"sid":`...)
	b = appendString(b, socketID)
	return append(b, '}')
}

// ConnectErrorPacket refuses a namespace connect.
func ConnectErrorPacket(namespace, message string) []byte {
	b := []byte("44")
	if namespace != "/" && namespace != "" {
		b = append(b, namespace...)
		b = append(b, ',')
	}
	b = append(b, `{"message":`...)
	b = appendString(b, message)
	return append(b, '}')
}

// Fixed frames.
var (
	// Ping is the server's Engine.IO ping.
	Ping = []byte("2")
	// Disconnect is the Socket.IO namespace disconnect (the client does not
	// reconnect after it).
	Disconnect = []byte("41")
)

// AppendEvent appends `42["name",arg...]` to dst. Each arg must be valid JSON.
func AppendEvent(dst []byte, name string, args ...[]byte) []byte {
	dst = append(dst, `42[`...)
	dst = appendString(dst, name)
	for _, a := range args {
		dst = append(dst, ',')
		dst = append(dst, a...)
	}
	return append(dst, ']')
}

// Event returns `42["name",arg...]` in a new slice.
func Event(name string, args ...[]byte) []byte {
	n := 5 + len(name)
	for _, a := range args {
		n += len(a) + 1
	}
	return AppendEvent(make([]byte, 0, n), name, args...)
}

// Ack returns `43<id>[arg...]`.
func Ack(id int64, args ...[]byte) []byte {
	b := strconv.AppendInt([]byte("43"), id, 10)
	b = append(b, '[')
	for i, a := range args {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, a...)
	}
	return append(b, ']')
}

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte {
	simple := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			simple = false
			break
		}
	}
	if simple {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	q, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("eio: marshal string: %v", err)) // cannot happen for a Go string
	}
	return append(dst, q...)
}
