package ws

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// The reading side of a websocket in poll mode (pollread_linux.go): client
// frames (RFC 6455 §5) parsed from whatever bytes a non-blocking read
// returned. It accepts and refuses exactly what gorilla/websocket's Conn
// does as a server without compression (the goroutine mode's reader), with
// the same errors, so onReadError counts the same reasons.

// Opcodes read from clients besides those socket.go writes.
const (
	opContinuation = 0x0
	opBinary       = 0x2
	opPing         = 0x9
)

// maxControlPayload is the longest control frame payload (RFC 6455 §5.5).
const maxControlPayload = 125

// frameSink receives what readFrames parses, in order.
type frameSink interface {
	// message gets a whole data message (opText or opBinary); msg is the
	// sink's to keep.
	message(op byte, msg []byte)
	// ping and pong get a control frame's payload (valid during the call).
	ping(payload []byte)
	pong(payload []byte)
	// closeFrame gets the peer's close frame; reading ends after it with a
	// *websocket.CloseError.
	closeFrame(code int)
	// protocolError gets the close frame payload to answer a protocol
	// error or an oversize message with; reading ends after it.
	protocolError(code int, text string)
}

// frameState is what a reader keeps between reads: the message whose
// fragments are arriving.
type frameState struct {
	limit  int64  // longest message (MaxMessageBytes); <= 0: none
	inMsg  bool   // a fragmented message has begun
	msgOp  byte   // its opcode
	msgLen int64  // its payload length so far, for the limit
	msg    []byte // its payload so far
}

// readFrames parses the whole client frames at the start of b, unmasks
// them in place and hands them to sink. It returns the bytes consumed (what
// follows is an incomplete frame) and the error that ends reading: a
// protocol error, websocket.ErrReadLimit or the peer's close
// (*websocket.CloseError).
func readFrames(b []byte, st *frameState, sink frameSink) (used int, err error) {
	for {
		n, err := readFrame(b[used:], st, sink)
		used += n
		if err != nil || n == 0 {
			return used, err
		}
	}
}

// readFrame handles one frame at the start of b; n == 0 with a nil error:
// b does not hold all of it yet. Errors are found in the order gorilla
// finds them, so that a header is refused before its payload arrives.
func readFrame(b []byte, st *frameState, sink frameSink) (n int, err error) {
	if len(b) < 2 {
		return 0, nil
	}
	op := b[0] & 0xF
	fin := b[0]&0x80 != 0
	size := int64(b[1] & 0x7F)
	var problems []string
	for i, bit := range []byte{0x40, 0x20, 0x10} {
		if b[0]&bit != 0 {
			problems = append(problems, "RSV"+strconv.Itoa(i+1)+" set")
		}
	}
	switch op {
	case opClose, opPing, opPong:
		if size > maxControlPayload {
			problems = append(problems, "len > 125 for control")
		}
		if !fin {
			problems = append(problems, "FIN not set on control")
		}
	case opText, opBinary:
		if st.inMsg {
			problems = append(problems, "data before FIN")
		}
	case opContinuation:
		if !st.inMsg {
			problems = append(problems, "continuation after FIN")
		}
	default:
		problems = append(problems, "bad opcode "+strconv.Itoa(int(op)))
	}
	if b[1]&0x80 == 0 {
		problems = append(problems, "bad MASK")
	}
	if len(problems) > 0 {
		return 0, protocolError(sink, strings.Join(problems, ", "))
	}
	hdr := 2
	switch size {
	case 126:
		if len(b) < 4 {
			return 0, nil
		}
		size, hdr = int64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0, nil
		}
		size, hdr = int64(binary.BigEndian.Uint64(b[2:])), 10
		if size < 0 {
			return 0, websocket.ErrReadLimit
		}
	}
	if len(b) < hdr+4 {
		return 0, nil
	}
	data := op != opClose && op != opPing && op != opPong
	if data {
		total := st.msgLen + size
		if op != opContinuation {
			total = size
		}
		if total < 0 {
			return 0, websocket.ErrReadLimit
		}
		if st.limit > 0 && total > st.limit {
			sink.protocolError(websocket.CloseMessageTooBig, "")
			return 0, websocket.ErrReadLimit
		}
	}
	if int64(len(b)-hdr-4) < size {
		return 0, nil
	}
	key := b[hdr : hdr+4]
	payload := b[hdr+4 : hdr+4+int(size)]
	for i := range payload {
		payload[i] ^= key[i&3]
	}
	n = hdr + 4 + int(size)
	switch op {
	case opPing:
		sink.ping(payload)
	case opPong:
		sink.pong(payload)
	case opClose:
		code := websocket.CloseNoStatusReceived
		text := ""
		if len(payload) >= 2 {
			code = int(binary.BigEndian.Uint16(payload))
			if !validCloseCode(code) {
				return n, protocolError(sink, "bad close code "+strconv.Itoa(code))
			}
			text = string(payload[2:])
			if !utf8.ValidString(text) {
				return n, protocolError(sink, "invalid utf8 payload in close frame")
			}
		}
		sink.closeFrame(code)
		return n, &websocket.CloseError{Code: code, Text: text}
	case opText, opBinary:
		if fin {
			sink.message(op, append([]byte(nil), payload...))
			return n, nil
		}
		st.inMsg, st.msgOp, st.msgLen = true, op, size
		st.msg = append(st.msg[:0], payload...)
	default: // continuation
		st.msgLen += size
		st.msg = append(st.msg, payload...)
		if fin {
			msgOp, msg := st.msgOp, st.msg
			*st = frameState{limit: st.limit}
			sink.message(msgOp, msg)
		}
	}
	return n, nil
}

// protocolError answers a protocol error with a close frame (through sink)
// and returns the error gorilla returns for it.
func protocolError(sink frameSink, msg string) error {
	sink.protocolError(websocket.CloseProtocolError, msg)
	return errors.New("websocket: " + msg)
}

// validCloseCode reports whether a peer may send code in a close frame
// (gorilla's validReceivedCloseCodes).
func validCloseCode(code int) bool {
	switch code {
	case 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013:
		return true
	}
	return code >= 3000 && code <= 4999
}
