// Package sditest sets up, for tests, the mutual TLS of an SdI exchange with throwaway
// certificates: one CA; the hub's server and client certificates; the SdI's server
// certificate and its client certificate "Sistema Interscambio Fattura PA". Servers
// require client certificates from the CA, as in production.
package sditest

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"snodo/pkg/testpki"
	"snodo/pkg/tlsconf"
)

// SdICN is the subject CN of the SdI's client certificate.
const SdICN = "Sistema Interscambio Fattura PA"

// PKI holds the TLS configurations of both parties.
type PKI struct {
	Dir string
	// HubServer is the hub's listener config: it accepts only the SdI's client CN.
	HubServer *tls.Config
	// SdIServer is the SdI's listener config: it accepts client certificates of the CA.
	SdIServer *tls.Config
	// HubClient calls the SdI with the hub's client certificate.
	HubClient *http.Client
	// SdIClient calls the hub with the SdI's client certificate.
	SdIClient *http.Client
	// Stranger presents a client certificate of another CA.
	Stranger *http.Client
}

// New writes certificates to a temporary folder and builds the configurations with
// tlsconf, as the hub does from its configuration files.
func New(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	ca := testpki.MustCA("CA Agenzia delle Entrate (test)")
	other := testpki.MustCA("CA estranea")
	must := func(i *testpki.Issued, err error) *testpki.Issued {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	caFile, err := ca.WriteFile(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	write := func(i *testpki.Issued, name string) (string, string) {
		c, k, err := i.WriteFiles(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		return c, k
	}
	hubSrvC, hubSrvK := write(must(ca.Server("hub.ente.test", testpki.Options{})), "hub-server")
	sdiSrvC, sdiSrvK := write(must(ca.Server("servizi.fatturapa.test", testpki.Options{})), "sdi-server")
	hubCliC, hubCliK := write(must(ca.Client("hub.ente.test", testpki.Options{})), "hub-client")
	sdiCliC, sdiCliK := write(must(ca.Client(SdICN, testpki.Options{})), "sdi-client")
	strC, strK := write(must(other.Client(SdICN, testpki.Options{})), "stranger")

	p := &PKI{Dir: dir}
	if p.HubServer, err = (tlsconf.Server{CertFile: hubSrvC, KeyFile: hubSrvK, ClientCA: caFile, ClientCNs: []string{SdICN}}).Config(); err != nil {
		t.Fatal(err)
	}
	if p.SdIServer, err = (tlsconf.Server{CertFile: sdiSrvC, KeyFile: sdiSrvK, ClientCA: caFile}).Config(); err != nil {
		t.Fatal(err)
	}
	client := func(c, k string) *http.Client {
		cfg, err := (tlsconf.Client{CertFile: c, KeyFile: k, RootCA: caFile}).Config()
		if err != nil {
			t.Fatal(err)
		}
		return tlsconf.HTTPClient(cfg, 30*time.Second)
	}
	p.HubClient = client(hubCliC, hubCliK)
	p.SdIClient = client(sdiCliC, sdiCliK)
	p.Stranger = client(strC, strK)
	return p
}

// Serve starts h on 127.0.0.1 over TLS with cfg and returns its base URL.
func Serve(t testing.TB, cfg *tls.Config, h http.Handler) string {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.TLS = cfg.Clone()
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected in tests
	s.StartTLS()
	t.Cleanup(s.Close)
	return s.URL
}
