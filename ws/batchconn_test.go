package ws

import (
	"bytes"
	"net"
	"testing"
)

// recordConn records each write(2) the batchConn makes.
type recordConn struct {
	net.Conn
	writes [][]byte
}

func (r *recordConn) Write(p []byte) (int, error) {
	r.writes = append(r.writes, append([]byte(nil), p...))
	return len(p), nil
}

func TestBatchConn(t *testing.T) {
	text := func(s string) []byte { return append([]byte{0x81, byte(len(s))}, s...) }
	ping := []byte{0x89, 0}
	tests := []struct {
		name    string
		steps   []func(b *batchConn)
		writes  []string
		pending int64
	}{
		{"lone frame writes through", []func(*batchConn){
			func(b *batchConn) { b.pending.Store(1); _, _ = b.Write(text("a")) },
		}, []string{"\x81\x01a"}, 1},
		{"queued frames go out in one write", []func(*batchConn){
			func(b *batchConn) { b.pending.Store(3); _, _ = b.Write(text("a")) },
			func(b *batchConn) { b.pending.Store(2); _, _ = b.Write(text("b")) },
			func(b *batchConn) { b.pending.Store(1); _, _ = b.Write(text("c")) },
		}, []string{"\x81\x01a\x81\x01b\x81\x01c"}, 1},
		{"a control frame flushes", []func(*batchConn){
			func(b *batchConn) { b.pending.Store(3); _, _ = b.Write(text("a")) },
			func(b *batchConn) { _, _ = b.Write(ping) },
		}, []string{"\x81\x01a\x89\x00"}, 3},
		{"writes outside a burst (handshake) go through", []func(*batchConn){
			func(b *batchConn) { _, _ = b.Write([]byte("HTTP/1.1 101\r\n\r\n")) },
		}, []string{"HTTP/1.1 101\r\n\r\n"}, 0},
		{"the batch is bounded: a frame that would overflow it flushes", []func(*batchConn){
			func(b *batchConn) {
				b.pending.Store(100)
				big := bytes.Repeat([]byte{'x'}, maxBatch-10)
				_, _ = b.Write(append([]byte{0x81}, big...))
				_, _ = b.Write(text("overflow"))
			},
		}, []string{"\x81\x08overflow"}, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &recordConn{}
			b := &batchConn{Conn: rc}
			for _, step := range tt.steps {
				step(b)
			}
			if len(rc.writes) != len(tt.writes) {
				t.Fatalf("%d writes, want %d", len(rc.writes), len(tt.writes))
			}
			for i, w := range tt.writes {
				if !bytes.HasSuffix(rc.writes[i], []byte(w)) || (len(rc.writes[i]) < maxBatch && string(rc.writes[i]) != w) {
					t.Errorf("write %d = %q, want %q", i, rc.writes[i], w)
				}
			}
		})
	}
}
