package metrics

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// loopback is where an address without a host listens: the endpoint says
// what a queue holds (queue and schedule names) to whoever can reach it,
// without authentication, so reaching it from another host takes saying
// so (0.0.0.0:PORT, [::]:PORT or an interface's address).
const loopback = "127.0.0.1"

// ParseAddr reads a --metrics-addr: HOST:PORT, or :PORT to listen on
// loopback (127.0.0.1) only, and returns the address to listen on.
func ParseAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("metrics address %q: want HOST:PORT, or :PORT for 127.0.0.1 only", s)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("metrics address %q: the port must be a number from 0 to 65535", s)
	}
	if host == "" {
		host = loopback
	} else if !validHost(host) {
		return "", fmt.Errorf("metrics address %q: the host must be an IP address, localhost or a host name", s)
	}
	return net.JoinHostPort(host, port), nil
}

// validHost says whether host can be listened on by name or number: an IP
// address (IPv6 without a zone), or a DNS name's syntax (RFC 1123 labels
// of letters, digits and inner hyphens, at most 63 bytes each, 253 in
// all, an optional final dot), localhost among them. What does not
// resolve fails at listen; what cannot be a name is a usage error here,
// before the database is opened.
func validHost(host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Zone() == ""
	}
	name := strings.TrimSuffix(host, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// NewServer serves reg's metrics and the process's on /metrics, and
// health on /healthz. A family that cannot be read (the database does not
// answer) is left out of a scrape and logged; the rest is served, and
// /healthz says why.
//
// The process's families (process_*, go_*) are those of client_golang's
// default registry: its package init makes a process and a Go collector
// there in every program that links it, every jobq command included.
// Serving them, rather than making the same two again with the
// collectors package, keeps that package and its init (regular
// expressions compiled, descriptions built) out of every jobq process.
func NewServer(reg *prometheus.Registry, health *Health, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(prometheus.Gatherers{reg, prometheus.DefaultGatherer}, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg,
	}))
	mux.Handle("GET /healthz", health)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}
