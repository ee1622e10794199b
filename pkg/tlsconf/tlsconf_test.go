package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"snodo/pkg/testpki"
)

type pki struct {
	dir                   string
	serverCert, serverKey string
	clientCert, clientKey string
	otherCert, otherKey   string
	caFile                string
	otherCAFile           string
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	ca := testpki.MustCA("CA snodo test")
	other := testpki.MustCA("CA estranea")
	srv, err := ca.Server("hub.test", testpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ca.Client("Sistema Interscambio Fattura PA", testpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	oth, err := other.Client("Sistema Interscambio Fattura PA", testpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var p pki
	p.dir = dir
	p.serverCert, p.serverKey, _ = srv.WriteFiles(dir, "server")
	p.clientCert, p.clientKey, _ = cli.WriteFiles(dir, "client")
	p.otherCert, p.otherKey, _ = oth.WriteFiles(dir, "other")
	p.caFile, _ = ca.WriteFile(dir, "ca")
	p.otherCAFile, _ = other.WriteFile(dir, "otherca")
	return p
}

// serve starts an HTTPS server with cfg on 127.0.0.1 and records the SNI each client
// sent.
func serve(t *testing.T, cfg *tls.Config) (url string, sni *atomic.Value) {
	t.Helper()
	sni = &atomic.Value{}
	sni.Store("<none yet>")
	cfg.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni.Store(h.ServerName)
		return nil, nil
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok "+r.TLS.PeerCertificates[0].Subject.CommonName)
		}),
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "https://" + ln.Addr().String(), sni
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	scfg, err := Server{CertFile: p.serverCert, KeyFile: p.serverKey, ClientCA: p.caFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	url, sni := serve(t, scfg)
	client := func(c Client, maxVersion uint16) *http.Client {
		cfg, err := c.Config()
		if err != nil {
			t.Fatal(err)
		}
		if maxVersion != 0 {
			cfg.MinVersion, cfg.MaxVersion = maxVersion, maxVersion
		}
		if len(cfg.Certificates) == 1 {
			// Present the certificate even when its issuer is not among the CAs the
			// server asks for (Go would otherwise send none), to test the server's check.
			cert := cfg.Certificates[0]
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		}
		return HTTPClient(cfg, 5*time.Second)
	}
	for _, tc := range []struct {
		name    string
		c       Client
		maxV    uint16
		wantErr string
	}{
		{"mTLS ok", Client{CertFile: p.clientCert, KeyFile: p.clientKey, RootCA: p.caFile}, 0, ""},
		{"mTLS ok TLS 1.2", Client{CertFile: p.clientCert, KeyFile: p.clientKey, RootCA: p.caFile}, tls.VersionTLS12, ""},
		{"no client certificate", Client{RootCA: p.caFile}, 0, "certificate required"},
		{"client certificate from another CA", Client{CertFile: p.otherCert, KeyFile: p.otherKey, RootCA: p.caFile}, 0, "unknown certificate authority"},
		{"TLS 1.1 refused", Client{CertFile: p.clientCert, KeyFile: p.clientKey, RootCA: p.caFile}, tls.VersionTLS11, "protocol version"},
		{"server not trusted by client", Client{CertFile: p.clientCert, KeyFile: p.clientKey, RootCA: p.otherCAFile}, 0, "certificate signed by unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := get(client(tc.c, tc.maxV), url)
			if tc.wantErr == "" {
				if err != nil || body != "ok Sistema Interscambio Fattura PA" {
					t.Fatalf("got %q, %v", body, err)
				}
				// Dialling an IP address, Go sends no SNI, like the SdI: the server
				// presented its certificate anyway.
				if s := sni.Load().(string); s != "" {
					t.Fatalf("client sent SNI %q; the test needs none", s)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("want error containing %q, got %q, %v", tc.wantErr, body, err)
			}
		})
	}
}

func TestNoSNIRawHandshake(t *testing.T) {
	p := newPKI(t)
	scfg, err := Server{CertFile: p.serverCert, KeyFile: p.serverKey, ClientCA: p.caFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	url, sni := serve(t, scfg)
	ccfg, _ := Client{CertFile: p.clientCert, KeyFile: p.clientKey, RootCA: p.caFile}.Config()
	// Ask for a name the certificate does not cover, but send it as no SNI: verify by
	// hand against "hub.test"-less chain (the cert covers 127.0.0.1 and localhost).
	ccfg.ServerName = "127.0.0.1"
	conn, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), ccfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; got != "hub.test" {
		t.Fatalf("server presented %q", got)
	}
	if s := sni.Load().(string); s != "" {
		t.Fatalf("SNI %q sent", s)
	}
}

func TestClientCNs(t *testing.T) {
	p := newPKI(t)
	ca := testpki.MustCA("CA2")
	caFile, _ := ca.WriteFile(p.dir, "ca2")
	good, _ := ca.Client("Sistema Interscambio Fattura PA", testpki.Options{})
	bad, _ := ca.Client("Altro soggetto accreditato", testpki.Options{})
	gc, gk, _ := good.WriteFiles(p.dir, "good")
	bc, bk, _ := bad.WriteFiles(p.dir, "bad")
	scfg, err := Server{CertFile: p.serverCert, KeyFile: p.serverKey, ClientCA: caFile, ClientCNs: []string{"Sistema Interscambio Fattura PA"}}.Config()
	if err != nil {
		t.Fatal(err)
	}
	url, _ := serve(t, scfg)
	okCfg, _ := Client{CertFile: gc, KeyFile: gk, RootCA: p.caFile}.Config()
	if body, err := get(HTTPClient(okCfg, 5*time.Second), url); err != nil || !strings.HasPrefix(body, "ok ") {
		t.Fatalf("allowed CN refused: %q %v", body, err)
	}
	badCfg, _ := Client{CertFile: bc, KeyFile: bk, RootCA: p.caFile}.Config()
	if _, err := get(HTTPClient(badCfg, 5*time.Second), url); err == nil {
		t.Fatal("CN not in the list accepted")
	}
}

func TestLoadPool(t *testing.T) {
	dir := t.TempDir()
	a := testpki.MustCA("A")
	b := testpki.MustCA("B")
	os.WriteFile(filepath.Join(dir, "a.pem"), testpki.CertPEM(a.Cert), 0o644)
	os.WriteFile(filepath.Join(dir, "b.cer"), b.Cert.Raw, 0o644) // DER, as the AdE publishes
	os.WriteFile(filepath.Join(dir, "README.txt"), []byte("ignored"), 0o644)
	pool, err := LoadPool(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ca := range []*testpki.CA{a, b} {
		leaf, _ := ca.Client("x", testpki.Options{})
		if _, err := leaf.Cert.Verify(x509VerifyOpts(pool)); err != nil {
			t.Fatalf("CA %s not in pool: %v", ca.Cert.Subject.CommonName, err)
		}
	}
	empty := t.TempDir()
	if _, err := LoadPool(empty); err == nil || !strings.Contains(err.Error(), "nessun certificato") {
		t.Fatalf("empty folder: %v", err)
	}
	junk := filepath.Join(empty, "junk.pem")
	os.WriteFile(junk, []byte("not a cert"), 0o644)
	if _, err := LoadPool(junk); err == nil || !strings.Contains(err.Error(), "junk.pem") {
		t.Fatalf("junk file: %v", err)
	}
	if _, err := LoadPool(filepath.Join(empty, "missing.pem")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestConfigErrors(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"no cert", func() error { _, err := Server{}.Config(); return err }, "mancanti"},
		{"bad key", func() error { _, err := Server{CertFile: p.serverCert, KeyFile: p.clientKey}.Config(); return err }, p.serverCert},
		{"tls 1.1", func() error {
			_, err := Server{CertFile: p.serverCert, KeyFile: p.serverKey, MinVersion: "1.1"}.Config()
			return err
		}, "non ammessa"},
		{"cns without ca", func() error {
			_, err := Server{CertFile: p.serverCert, KeyFile: p.serverKey, ClientCNs: []string{"x"}}.Config()
			return err
		}, "ClientCA"},
		{"client half pair", func() error { _, err := Client{CertFile: p.clientCert}.Config(); return err }, "insieme"},
		{"unknown version", func() error { _, err := Client{MinVersion: "2.0"}.Config(); return err }, "sconosciuta"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error containing %q, got %v", tc.want, err)
			}
		})
	}
	cfg, err := Server{CertFile: p.serverCert, KeyFile: p.serverKey, MinVersion: "TLS1.3"}.Config()
	if err != nil || cfg.MinVersion != tls.VersionTLS13 {
		t.Fatalf("TLS1.3: %v", err)
	}
}

func TestListener(t *testing.T) {
	p := newPKI(t)
	if _, err := (Listener{Addr: "127.0.0.1:0"}).Listen(); err == nil || !strings.Contains(err.Error(), "TLS non configurato") {
		t.Fatalf("listener without TLS nor Plain: %v", err)
	}
	ln, err := (Listener{Addr: "127.0.0.1:0", Plain: true}).Listen()
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain") })}
	go srv.Serve(ln)
	defer srv.Close()
	if body, err := get(http.DefaultClient, "http://"+ln.Addr().String()); err != nil || body != "plain" {
		t.Fatalf("plain: %q %v", body, err)
	}
	tln, err := (Listener{Addr: "127.0.0.1:0", TLS: Server{CertFile: p.serverCert, KeyFile: p.serverKey, ClientCA: p.caFile}}).Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer tln.Close()
	go func() {
		c, err := tln.Accept()
		if err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	// A plain TCP client speaking HTTP gets no answer in clear.
	c, err := net.Dial("tcp", tln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
	b, _ := io.ReadAll(c)
	c.Close()
	if strings.Contains(string(b), "HTTP/1.") && !strings.Contains(string(b), "400") {
		t.Fatalf("TLS listener answered plain HTTP: %q", b)
	}
	if !Loopback("127.0.0.1:8080") || !Loopback("localhost:1") || Loopback("0.0.0.0:8080") || Loopback("10.0.0.1:80") {
		t.Fatal("Loopback wrong")
	}
}

func x509VerifyOpts(pool *x509.CertPool) x509.VerifyOptions {
	return x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
}
