// Package freeport picks a free loopback TCP port for a server that a test
// or the bench starts as another process, which binds it a moment later.
//
// The usual way, listening on port 0 and closing, returns a port from the
// kernel's ephemeral range: the range every outgoing connection on the
// machine takes its local port from. Between the pick and the child's bind,
// one of those connections (a Redis client, a websocket, another test's
// dial) can take the port, and the child fails with "address already in
// use" — a flake that grows with the load. Pick returns a port below the
// ephemeral range instead, which no outgoing connection is ever given, so
// only another listener can take it.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// lowest is the lowest port Pick returns: below it are well-known and
// registered services' ports.
const lowest = 10000

// rangeFile holds the kernel's ephemeral port range (Linux).
const rangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// Pick returns a loopback TCP port that was free a moment ago and lies
// below the ephemeral port range when that range leaves room for one;
// otherwise (another OS, an unusual range) it falls back to a port the
// kernel picks.
func Pick() (int, error) {
	if top := ephemeralStart(); top > lowest+1000 {
		for range 200 {
			p := lowest + rand.IntN(top-lowest)
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				continue // taken: try another
			}
			ln.Close()
			return p, nil
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Addr is Pick as "127.0.0.1:port".
func Addr() (string, error) {
	p, err := Pick()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
}

// ephemeralStart returns the first port of the kernel's ephemeral range,
// or 0 when it cannot be read.
func ephemeralStart() int {
	b, err := os.ReadFile(rangeFile)
	if err != nil {
		return 0
	}
	first, err := parseRange(string(b))
	if err != nil {
		return 0
	}
	return first
}

// parseRange reads the first port of "32768\t60999\n".
func parseRange(s string) (int, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, errors.New("freeport: port range is not two numbers")
	}
	first, err := strconv.Atoi(f[0])
	if err != nil || first < 1 || first > 65535 {
		return 0, fmt.Errorf("freeport: bad first port %q", f[0])
	}
	return first, nil
}
