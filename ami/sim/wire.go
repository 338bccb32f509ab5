package sim

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
)

// Limits applied to what clients send.
const (
	maxLineBytes       = 16 << 10 // longer lines are truncated
	maxHeadersPerFrame = 256      // further headers are dropped
)

// frame is one message read from a client, with what was wrong with it.
type frame struct {
	msg       *Message
	malformed int // lines without a colon, truncated lines, dropped headers
}

// readFrame reads one client message: header lines up to an empty line.
// Empty lines before a message are skipped. It never fails on content, only
// on I/O errors (io.EOF when the peer closed between messages).
func readFrame(br *bufio.Reader) (frame, error) {
	var f frame
	f.msg = &Message{}
	for {
		line, truncated, err := readLine(br)
		if err != nil {
			if len(f.msg.Headers) > 0 && errors.Is(err, io.EOF) {
				return f, nil
			}
			return f, err
		}
		if truncated {
			f.malformed++
		}
		if len(bytes.TrimSpace(line)) == 0 {
			if len(f.msg.Headers) == 0 && f.malformed == 0 {
				continue
			}
			return f, nil
		}
		k, v, ok := splitHeader(string(line))
		if !ok {
			f.malformed++
			continue
		}
		if len(f.msg.Headers) >= maxHeadersPerFrame {
			f.malformed++
			continue
		}
		f.msg.Headers = append(f.msg.Headers, Header{k, v})
	}
}

// readLine returns one line without its line end. A line longer than
// maxLineBytes is cut and the rest discarded (truncated = true).
func readLine(br *bufio.Reader) (line []byte, truncated bool, err error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			if len(buf)+len(chunk) > maxLineBytes {
				truncated = true
			} else {
				buf = append(buf, chunk...)
			}
			return bytes.TrimRight(buf, "\r\n"), truncated, nil
		case errors.Is(err, bufio.ErrBufferFull):
			if len(buf)+len(chunk) > maxLineBytes {
				truncated = true
			} else {
				buf = append(buf, chunk...)
			}
		default:
			if len(chunk) > 0 && !truncated && len(buf)+len(chunk) <= maxLineBytes {
				buf = append(buf, chunk...)
			}
			if len(buf) > 0 && errors.Is(err, io.EOF) {
				return bytes.TrimRight(buf, "\r\n"), truncated, io.EOF
			}
			return nil, truncated, err
		}
	}
}

// splitHeader splits "Key: Value" on the first colon. The key must be
// non-empty and contain no spaces; the value is trimmed of one leading
// space run and trailing white space.
func splitHeader(line string) (key, value string, ok bool) {
	i := strings.IndexByte(line, ':')
	if i <= 0 {
		return "", "", false
	}
	key = strings.TrimSpace(line[:i])
	if key == "" || strings.ContainsAny(key, " \t") {
		return "", "", false
	}
	return key, strings.TrimSpace(line[i+1:]), true
}

// errorResponse builds "Response: Error" with a message.
func errorResponse(actionID, msg string) *Message {
	m := &Message{}
	m.Add("Response", "Error")
	if actionID != "" {
		m.Add("ActionID", actionID)
	}
	return m.Add("Message", msg)
}

// successResponse builds "Response: Success" with an optional message.
func successResponse(actionID, msg string) *Message {
	m := &Message{}
	m.Add("Response", "Success")
	if actionID != "" {
		m.Add("ActionID", actionID)
	}
	if msg != "" {
		m.Add("Message", msg)
	}
	return m
}
