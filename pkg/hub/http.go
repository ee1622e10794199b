package hub

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"snodo/pkg/store"
	"snodo/pkg/tlsconf"
)

type server struct {
	name string
	srv  *http.Server
	ln   net.Listener
}

func (s *server) serve(log *slog.Logger) {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("listener HTTP terminato", "listener", s.name, "err", err)
	}
}

// listen binds the configured listeners and mounts the hub's own routes.
func (h *Hub) listen() ([]*server, error) {
	h.Mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	h.Mux.HandleFunc("GET /readyz", h.readyz)
	h.Mux.Handle("GET /metrics", h.metricsGuard(promhttp.HandlerFor(h.Metrics, promhttp.HandlerOpts{})))
	var out []*server
	handler := h.requireClientCert(h.Mux)
	mk := func(name string) *http.Server {
		return &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute,
			WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute,
			ErrorLog: slog.NewLogLogger(h.Log.With("listener", name).Handler(), slog.LevelWarn)}
	}
	if a := h.Config.Listen.HTTP; a != "" {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return nil, fmt.Errorf("hub: ascolto HTTP su %s: %w (address in use?)", a, err)
		}
		h.setAddr("http", ln.Addr().String())
		out = append(out, &server{name: "http", srv: mk("http"), ln: ln})
	}
	if a := h.Config.Listen.HTTPS; a != "" {
		t := h.Config.Listen.TLS
		cfg, err := tlsconf.Server{CertFile: t.Cert, KeyFile: t.Key, ClientCA: t.ClientCA, MinVersion: t.MinVersion}.Config()
		if err != nil {
			closeAll(out)
			return nil, err
		}
		if cfg.ClientCAs != nil {
			// One listener serves the SdI, the pagoPA Node (client certificates required,
			// enforced per path) and enti (tokens or certificates).
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			closeAll(out)
			return nil, fmt.Errorf("hub: ascolto HTTPS su %s: %w", a, err)
		}
		h.setAddr("https", ln.Addr().String())
		out = append(out, &server{name: "https", srv: mk("https"), ln: tls.NewListener(ln, cfg)})
	}
	return out, nil
}

func closeAll(ss []*server) {
	for _, s := range ss {
		s.ln.Close()
	}
}

// requireClientCert refuses, on the TLS listener, calls to the national systems'
// services that present no verified client certificate.
func (h *Hub) requireClientCert(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && h.Config.Listen.TLS.ClientCA != "" && len(r.TLS.VerifiedChains) == 0 && needsClientCert(r.URL.Path) {
			http.Error(w, "certificato client richiesto (client certificate required)", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func needsClientCert(path string) bool {
	for _, p := range []string{"/sdi/", "/pagopa/"} {
		if len(path) >= len(p) && path[:len(p)] == p {
			return true
		}
	}
	return false
}

func (h *Hub) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	st, err := h.Store.Stats(ctx)
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]any{"ready": false, "store": err.Error()})
		return
	}
	select {
	case <-h.ready:
	default:
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]any{"ready": false, "reason": "avvio in corso (starting)"})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"ready": true, "store": h.Store.Dialect().String(),
		"queue": map[string]int64{"pending": st.Pending, "running": st.Running, "awaiting": st.Awaiting, "dead": st.Dead}})
}

// countsCollector exposes message counts by ente, flow, kind and state, read from the
// store at most every 15 seconds.
type countsCollector struct {
	s    store.Store
	desc *prometheus.Desc
	mu   sync.Mutex
	at   time.Time
	last []store.MessageCount
}

func newCountsCollector(s store.Store) *countsCollector {
	return &countsCollector{s: s, desc: prometheus.NewDesc("snodo_messages",
		"Messages in the journal by ente, flow, kind and state.", []string{"ente", "flow", "kind", "state"}, nil)}
}

func (c *countsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *countsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) > 15*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		counts, err := c.s.Counts(ctx)
		cancel()
		if err == nil {
			c.last, c.at = counts, time.Now()
		}
	}
	for _, n := range c.last {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n.N), n.Ente, n.Flow, n.Kind, n.State)
	}
}

// metricsGuard serves /metrics only to the addresses of listen.metrics_from (loopback
// by default): the metrics name the enti and their volumes.
func (h *Hub) metricsGuard(next http.Handler) http.Handler {
	var nets []*net.IPNet
	for _, a := range h.Config.Listen.MetricsFrom {
		if _, n, err := net.ParseCIDR(a); err == nil {
			nets = append(nets, n)
		} else if ip := net.ParseIP(a); ip != nil {
			bits := 32
			if ip.To4() == nil {
				bits = 128
			}
			nets = append(nets, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		ip := net.ParseIP(host)
		allowed := ip != nil && ip.IsLoopback()
		for _, n := range nets {
			allowed = allowed || (ip != nil && n.Contains(ip))
		}
		if !allowed {
			http.Error(w, "metriche riservate: aggiungere l'indirizzo a listen.metrics_from (metrics are restricted)", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
