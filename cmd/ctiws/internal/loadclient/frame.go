package loadclient

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// Websocket opcodes the client handles (RFC 6455 §5.2).
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// maxPayload bounds one server frame: a larger length is a protocol error,
// not an allocation.
const maxPayload = 16 << 20

// Frame errors. They end the connection with a reason that says what was
// wrong with the server's bytes.
var (
	errFragmented = errors.New("loadclient: fragmented or reserved-bit frame")
	errMasked     = errors.New("loadclient: server frame is masked")
	errTooLarge   = errors.New("loadclient: frame larger than 16 MiB")
	errOpcode     = errors.New("loadclient: unknown opcode")
)

// parseFrame reads one server frame at the start of b. It returns the
// opcode, the payload (aliasing b) and the bytes consumed; n == 0 with a nil
// error means b does not hold a whole frame yet.
func parseFrame(b []byte) (op byte, payload []byte, n int, err error) {
	if len(b) < 2 {
		return 0, nil, 0, nil
	}
	if b[0]&0xF0 != 0x80 { // FIN set, RSV1-3 clear: ctiws never fragments or compresses
		return 0, nil, 0, errFragmented
	}
	op = b[0] & 0x0F
	switch op {
	case opText, opClose, opPing, opPong:
	default:
		return 0, nil, 0, fmt.Errorf("%w %#x", errOpcode, op)
	}
	if b[1]&0x80 != 0 {
		return 0, nil, 0, errMasked
	}
	size, hdr := uint64(b[1]&0x7F), 2
	switch size {
	case 126:
		if len(b) < 4 {
			return 0, nil, 0, nil
		}
		size, hdr = uint64(binary.BigEndian.Uint16(b[2:4])), 4
	case 127:
		if len(b) < 10 {
			return 0, nil, 0, nil
		}
		size, hdr = binary.BigEndian.Uint64(b[2:10]), 10
	}
	if size > maxPayload {
		return 0, nil, 0, errTooLarge
	}
	end := hdr + int(size)
	if len(b) < end {
		return 0, nil, 0, nil
	}
	return op, b[hdr:end], end, nil
}

// appendMasked appends one client frame (FIN, masked with key) to dst.
func appendMasked(dst []byte, op byte, payload []byte, key [4]byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, key[:]...)
	for i, c := range payload {
		dst = append(dst, c^key[i&3])
	}
	return dst
}

// wsGUID is the fixed string of the accept-key computation (RFC 6455 §1.3).
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// upgradeRequest returns the HTTP upgrade request for the Socket.IO
// websocket transport at u, and the Sec-WebSocket-Accept value the server
// must answer with.
func upgradeRequest(u *url.URL, path string) (req []byte, accept string) {
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	sum := sha1.Sum([]byte(key + wsGUID))
	accept = base64.StdEncoding.EncodeToString(sum[:])
	req = fmt.Appendf(nil, "GET %s?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		path, u.Host, key)
	return req, accept
}

// checkUpgrade parses the server's answer to the upgrade request held at
// the start of b. It returns how many bytes the HTTP head took (0: not
// complete yet); what follows is websocket data.
func checkUpgrade(b []byte, accept string) (int, error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > 8192 {
			return 0, errors.New("loadclient: upgrade answer head over 8 KiB")
		}
		return 0, nil
	}
	end += 4
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b[:end])), nil)
	if err != nil {
		return 0, fmt.Errorf("loadclient: parse upgrade answer: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return 0, fmt.Errorf("loadclient: upgrade answered HTTP %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != accept {
		return 0, fmt.Errorf("loadclient: Sec-WebSocket-Accept %q, want %q", got, accept)
	}
	return end, nil
}
