// Package flowtest holds what the invoice flows' end-to-end tests share: a throwaway PKI
// for a hub and a simulated SdI talking mutual TLS (CA, the hub's server and client
// certificates, the SdI's server and client certificates with CN "SDI", a document
// signing certificate) written as PEM files, and the SdI's HTTP client.
package flowtest

import (
	"crypto/tls"
	"net"
	"net/http"
	"testing"
	"time"

	"snodo/pkg/testpki"
)

// SdIClientCN is the common name of the simulated SdI's client certificate (list it in
// sdi.client_cns).
const SdIClientCN = "SDI"

// PKI is the certificates of one end-to-end setup; file fields are paths in Dir.
type PKI struct {
	CA                      *testpki.CA
	Dir                     string
	CAFile                  string
	HubCert, HubKey         string // the hub's TLS server certificate (127.0.0.1, localhost)
	HubClient, HubClientKey string // the hub's client certificate toward the SdI
	SignCert, SignKey       string // a document signing certificate (an ente's)
	SdIServer, SdIClient    *testpki.Issued
	// SdIHTTP is the simulated SdI's client: it trusts the CA and presents SdIClient.
	SdIHTTP *http.Client
}

// NewPKI issues the certificates and writes them in dir.
func NewPKI(t testing.TB, dir string) *PKI {
	t.Helper()
	ca, err := testpki.NewCA("CA di prova snodo", testpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	must := func(i *testpki.Issued, err error) *testpki.Issued {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	loop := testpki.Options{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}}
	p := &PKI{CA: ca, Dir: dir}
	hubSrv := must(ca.Server("hub.snodo.test", loop))
	hubCli := must(ca.Client("snodo-hub", testpki.Options{}))
	signer := must(ca.Signing("COMUNE DI PROVA", testpki.Options{}))
	p.SdIServer = must(ca.Server("sdi.test", loop))
	p.SdIClient = must(ca.Client(SdIClientCN, testpki.Options{}))
	if p.CAFile, err = ca.WriteFile(dir, "ca"); err != nil {
		t.Fatal(err)
	}
	if p.HubCert, p.HubKey, err = hubSrv.WriteFiles(dir, "hub"); err != nil {
		t.Fatal(err)
	}
	if p.HubClient, p.HubClientKey, err = hubCli.WriteFiles(dir, "hubclient"); err != nil {
		t.Fatal(err)
	}
	if p.SignCert, p.SignKey, err = signer.WriteFiles(dir, "firma"); err != nil {
		t.Fatal(err)
	}
	p.SdIHTTP = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{p.SdIClient.TLS()}, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 16}}
	return p
}
