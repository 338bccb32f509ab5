package main

import (
	"net/http"
	"time"

	"github.com/ctiws/ctiws/cmd/ctiws/internal/config"
	"github.com/ctiws/ctiws/ws"
)

// httpLimits are the HTTP server's timeouts and header cap.
type httpLimits struct {
	read, write, idle time.Duration
	maxHeaderBytes    int
}

func httpLimitsOf(cfg *config.Config) httpLimits {
	return httpLimits{read: cfg.HTTPReadTimeout, write: cfg.HTTPWriteTimeout, idle: cfg.HTTPIdleTimeout, maxHeaderBytes: cfg.HTTPMaxHeaderBytes}
}

// newHTTPServer builds an HTTP server that closes slow and idle clients:
// headers within min(read, 10 s), the whole request (body included) within
// read, the response within write (when withWrite), and idle keep-alive
// connections after idle. Websockets are hijacked and clear these
// deadlines (ws.Server), so they are not bound by them.
func newHTTPServer(h http.Handler, l httpLimits, withWrite bool) *http.Server {
	s := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(l.read, 10*time.Second),
		ReadTimeout:       l.read,
		IdleTimeout:       l.idle,
		MaxHeaderBytes:    l.maxHeaderBytes,
	}
	if withWrite {
		s.WriteTimeout = l.write
	}
	return s
}

// limitsOf maps the configured payload limits to the websocket layer's.
func limitsOf(cfg *config.Config) ws.Limits {
	return ws.Limits{
		AvatarBytes:          cfg.MaxAvatarBytes,
		AvatarDimension:      cfg.MaxAvatarDimension,
		PostitBytes:          cfg.MaxPostitBytes,
		RelayBytes:           cfg.RelayMaxBytes,
		RelayRate:            float64(cfg.RelayRate),
		RelayBurst:           cfg.RelayBurst,
		RelayDisconnectAfter: cfg.RelayDisconnectAfter,
		UserRelay:            ws.Rate{PerSecond: cfg.UserRelayRate, Burst: cfg.UserRelayBurst},
		UserPostit:           ws.Rate{PerSecond: cfg.UserPostitRate, Burst: cfg.UserPostitBurst},
		UserAvatar:           ws.Rate{PerSecond: cfg.UserAvatarRate, Burst: cfg.UserAvatarBurst},
		UserPresence:         ws.Rate{PerSecond: cfg.UserPresenceRate, Burst: cfg.UserPresenceBurst},
		MaxSocketsPerUser:    cfg.MaxSocketsPerUser,
	}
}
