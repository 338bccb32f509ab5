package ami

import (
	"bufio"
	"io"
)

// framer cuts an AMI byte stream into messages on blank lines. It tolerates
// LF-only line ends, keeps a partial message across read errors (a read
// deadline in the middle of a message loses nothing) and skips messages
// larger than max.
type framer struct {
	r         *bufio.Reader
	max       int
	cur       []byte // the message being assembled
	lineStart int    // where the current (unfinished) line begins in cur
	skipping  bool   // dropping an oversize message until its blank line
}

func newFramer(r io.Reader, max int) *framer {
	return &framer{r: bufio.NewReaderSize(r, 16<<10), max: max}
}

// line returns the next line without its line end. It is used for the
// banner, which is not a framed message.
func (f *framer) line() (string, error) {
	for {
		b, err := f.r.ReadSlice('\n')
		f.cur = append(f.cur, b...)
		if len(f.cur) > f.max {
			f.cur = f.cur[:0]
			return "", errOversize
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		s := string(trimEOL(f.cur))
		f.cur = f.cur[:0]
		return s, nil
	}
}

// next returns the next message, including its final blank line. The bytes
// are valid until the next call. errOversize is not fatal.
func (f *framer) next() ([]byte, error) {
	for {
		b, err := f.r.ReadSlice('\n')
		f.cur = append(f.cur, b...)
		if err == bufio.ErrBufferFull {
			if f.skipping {
				f.reset()
			} else if len(f.cur) > f.max {
				f.overflow()
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		// A complete line is cur[lineStart:].
		blank := isBlank(f.cur[f.lineStart:])
		if f.skipping {
			f.reset()
			if blank {
				f.skipping = false
				return nil, errOversize
			}
			continue
		}
		if blank {
			if f.lineStart == 0 { // blank line between messages
				f.reset()
				continue
			}
			msg := f.cur
			f.reset()
			return msg, nil
		}
		if len(f.cur) > f.max {
			f.overflow()
			continue
		}
		f.lineStart = len(f.cur)
	}
}

// overflow drops what was assembled and skips to the next blank line.
func (f *framer) overflow() {
	f.skipping = true
	f.cur = f.cur[:0]
	f.lineStart = 0
}

func (f *framer) reset() {
	f.cur = f.cur[:0]
	f.lineStart = 0
}

func isBlank(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
