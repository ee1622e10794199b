// Package tlsconf builds the hub's TLS configurations from files: server configurations
// that require client certificates from a CA pool (mutual TLS, as the SdI and the pagoPA
// Node use), client configurations that present a certificate and verify the server
// against a pool, and listeners that are TLS unless plain HTTP is explicitly enabled.
//
// The SdI sends no SNI: a server configured here always presents its one certificate,
// whatever name (or none) the client asks for. TLS 1.2 is the minimum; 1.0 and 1.1 are
// refused even if configured.
//
// Plain HTTP exists for local runs only: [Listener] serves it only with Plain set, and
// the hub's default local configuration sets it on 127.0.0.1:8080 so integrators can try
// the services with curl. Never enable it on an address reachable from outside.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// Server configures a TLS server.
type Server struct {
	CertFile string // PEM: the server certificate, then its chain
	KeyFile  string // PEM: the private key
	// ClientCA is a PEM/DER file or a folder of them holding the CAs that issue accepted
	// client certificates. When set, a client certificate is required and verified.
	ClientCA string
	// ClientCNs, when not empty, accepts only client certificates whose subject common
	// name is listed (e.g. the SdI's "Sistema Interscambio Fattura PA"): a CA usually
	// issues certificates to many parties.
	ClientCNs []string
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string
}

// Config builds the *tls.Config.
func (s Server) Config() (*tls.Config, error) {
	if s.CertFile == "" || s.KeyFile == "" {
		return nil, errors.New("tlsconf: certificato e chiave del server mancanti: impostare cert e key (server certificate and key missing)")
	}
	cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: certificato server %s / chiave %s: %w", s.CertFile, s.KeyFile, err)
	}
	minV, err := parseVersion(s.MinVersion)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		// One certificate: Go presents it whatever the SNI, including none (the SdI).
		Certificates: []tls.Certificate{cert},
		MinVersion:   minV,
	}
	if s.ClientCA != "" {
		pool, err := LoadPool(s.ClientCA)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	} else if len(s.ClientCNs) > 0 {
		return nil, errors.New("tlsconf: ClientCNs richiede ClientCA (ClientCNs needs a client CA pool)")
	}
	if len(s.ClientCNs) > 0 {
		allowed := slices.Clone(s.ClientCNs)
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tlsconf: certificato client assente (no client certificate)")
			}
			cn := cs.PeerCertificates[0].Subject.CommonName
			if !slices.Contains(allowed, cn) {
				return fmt.Errorf("tlsconf: certificato client CN=%q non autorizzato (client certificate not allowed)", cn)
			}
			return nil
		}
	}
	return cfg, nil
}

// Client configures a TLS client.
type Client struct {
	// CertFile and KeyFile, when set, are the client certificate presented to the server.
	CertFile string
	KeyFile  string
	// RootCA is a PEM/DER file or folder of the CAs that issue the server's certificate;
	// empty means the system pool.
	RootCA string
	// ServerName overrides the name checked in the server certificate.
	ServerName string
	MinVersion string // "1.2" (default) or "1.3"
}

// Config builds the *tls.Config.
func (c Client) Config() (*tls.Config, error) {
	minV, err := parseVersion(c.MinVersion)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: minV, ServerName: c.ServerName}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("tlsconf: certificato client e chiave vanno indicati insieme (client certificate and key go together)")
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: certificato client %s / chiave %s: %w", c.CertFile, c.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if c.RootCA != "" {
		pool, err := LoadPool(c.RootCA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// HTTPClient returns an *http.Client using cfg (nil for plain HTTP only) with the given
// overall timeout per request.
func HTTPClient(cfg *tls.Config, timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	tr.MaxIdleConnsPerHost = 64
	tr.ForceAttemptHTTP2 = false // SOAP peers speak HTTP/1.1
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	return &http.Client{Transport: tr, Timeout: timeout}
}

func parseVersion(s string) (uint16, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	v = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(v, "tls"), "v"))
	switch v {
	case "", "1.2", "12":
		return tls.VersionTLS12, nil
	case "1.3", "13":
		return tls.VersionTLS13, nil
	case "1.0", "10", "1.1", "11":
		return 0, fmt.Errorf("tlsconf: versione minima TLS %q non ammessa: usare 1.2 o 1.3 (TLS below 1.2 is not allowed)", s)
	default:
		return 0, fmt.Errorf("tlsconf: versione TLS %q sconosciuta: usare 1.2 o 1.3 (unknown TLS version)", s)
	}
}

// LoadPool reads CA certificates from a file or from every *.pem, *.crt, *.cer and
// *.der file of a folder; each file may hold PEM blocks or one DER certificate.
func LoadPool(path string) (*x509.CertPool, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: CA %s: %w", path, err)
	}
	files := []string{path}
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: cartella CA %s: %w", path, err)
		}
		files = files[:0]
		for _, e := range entries {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".pem", ".crt", ".cer", ".der":
				if !e.IsDir() {
					files = append(files, filepath.Join(path, e.Name()))
				}
			}
		}
		sort.Strings(files)
	}
	pool := x509.NewCertPool()
	n := 0
	for _, f := range files {
		certs, err := readCerts(f)
		if err != nil {
			return nil, err
		}
		for _, c := range certs {
			pool.AddCert(c)
			n++
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("tlsconf: nessun certificato CA in %s: servono file PEM o DER (.pem .crt .cer .der) (no CA certificate found)", path)
	}
	return pool, nil
}

func readCerts(file string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: CA %s: %w", file, err)
	}
	var out []*x509.Certificate
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: CA %s: certificato PEM illeggibile (unreadable PEM certificate): %w", file, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: CA %s: né PEM né DER (neither PEM nor DER): %w", file, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// Listener says where and how a service listens.
type Listener struct {
	Addr string // host:port
	// Plain serves HTTP without TLS. It must be set explicitly: local runs only.
	Plain bool
	TLS   Server
}

// Listen opens the listener: TLS with l.TLS, or plain TCP when l.Plain is set. A
// listener with neither a certificate nor Plain is a configuration error.
func (l Listener) Listen() (net.Listener, error) {
	if l.Plain {
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: ascolto su %s: %w", l.Addr, err)
		}
		return ln, nil
	}
	if l.TLS.CertFile == "" {
		return nil, fmt.Errorf("tlsconf: %s: TLS non configurato; indicare certificato e chiave, oppure abilitare esplicitamente HTTP in chiaro solo per uso locale (TLS not configured; set a certificate and key, or explicitly enable plain HTTP for local use)", l.Addr)
	}
	cfg, err := l.TLS.Config()
	if err != nil {
		return nil, err
	}
	ln, err := tls.Listen("tcp", l.Addr, cfg)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: ascolto su %s: %w", l.Addr, err)
	}
	return ln, nil
}

// Loopback reports whether addr (host:port) names a loopback address, for warnings
// about plain HTTP.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
