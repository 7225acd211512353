package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/labstack/echo/v4"
)

// clientIP is the client's address: the connection's peer, unless the peer is a
// trusted proxy. Then it is the nearest address in X-Forwarded-For that is not a
// trusted proxy (walking from the right, where the proxies wrote), or X-Real-IP.
// A client that connects directly cannot pose as another address: its own
// headers are read only when it is itself trusted.
func (s *Server) clientIP(r *http.Request) string {
	peer := parseAddr(r.RemoteAddr)
	if !peer.IsValid() || !s.trusted(peer) {
		return hostOf(r.RemoteAddr)
	}
	client := peer
	hops := strings.Split(strings.Join(r.Header.Values(echo.HeaderXForwardedFor), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a := parseAddr(hops[i])
		if !a.IsValid() {
			break // not written by a proxy we trust: stop here
		}
		if client = a; !s.trusted(a) {
			return a.String()
		}
	}
	if a := parseAddr(r.Header.Get(echo.HeaderXRealIP)); a.IsValid() && client == peer {
		return a.String()
	}
	return client.String()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.limits.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseAddr reads "ip", "ip:port" or "[ipv6]:port", IPv4-mapped IPv6 as IPv4.
func parseAddr(s string) netip.Addr {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func hostOf(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// addressKey is what per-address limits count: an IPv4 address, or an IPv6
// address's /64, which one subscriber usually holds whole.
func addressKey(ip string) string {
	a := parseAddr(ip)
	if !a.IsValid() {
		return ip
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
