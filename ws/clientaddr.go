package ws

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr returns the address a request comes from, for login rate
// limits: the peer address (RemoteAddr), unless the peer is a trusted
// proxy; then X-Forwarded-For is read from the right, skipping trusted
// proxies, and the first untrusted address is the client. With no trusted
// proxies X-Forwarded-For is ignored (a client could forge it).
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	addr = addr.Unmap()
	if !isTrusted(addr, trusted) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr // garbage: stop at the last trusted hop
		}
		a = a.Unmap()
		if !isTrusted(a, trusted) {
			return a
		}
		addr = a
	}
	return addr
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// addrKey is the rate-limit key of an address: IPv6 clients are counted
// per /64 (one host usually owns a whole /64).
func addrKey(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
