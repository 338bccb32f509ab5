package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"32768\t60999\n", 32768, false},
		{"1024 65535", 1024, false},
		{"", 0, true},
		{"32768", 0, true},
		{"x 60999", 0, true},
		{"70000 80000", 0, true},
	}
	for _, tt := range tests {
		got, err := parseRange(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("parseRange(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestPick(t *testing.T) {
	top := ephemeralStart()
	for range 20 {
		p, err := Pick()
		if err != nil {
			t.Fatal(err)
		}
		if top > lowest+1000 && (p < lowest || p >= top) {
			t.Fatalf("port %d outside [%d, %d): an outgoing connection could take it", p, lowest, top)
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d is not free: %v", p, err)
		}
		ln.Close()
	}
	a, err := Addr()
	if err != nil {
		t.Fatal(err)
	}
	if _, port, err := net.SplitHostPort(a); err != nil || port == "0" {
		t.Fatalf("Addr = %q", a)
	}
}
