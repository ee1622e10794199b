package api_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"snodo/pkg/api"
	"snodo/pkg/channel"
	"snodo/pkg/hub"
	"snodo/pkg/route"
	"snodo/pkg/testpki"
)

// TestMountedOnHub runs the API as a hub module behind the hub's own TLS listener, the
// one the SdI and the pagoPA Node share: an ente authenticates with a client certificate
// named by its SHA-256 fingerprint (colons and case as an operator pastes it), or with
// its token without a certificate.
func TestMountedOnHub(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA := testpki.MustCA("CA hub"), testpki.MustCA("CA client enti")
	srv, _ := serverCA.Server("hub", testpki.Options{})
	certFile, keyFile, err := srv.WriteFiles(dir, "hub")
	if err != nil {
		t.Fatal(err)
	}
	caFile, _ := clientCA.WriteFile(dir, "client-ca")
	cli, _ := clientCA.Client("sistema-protocollo", testpki.Options{})
	sum := sha256.Sum256(cli.Cert.Raw)
	var fp []string
	for _, b := range sum {
		fp = append(fp, fmt.Sprintf("%02X", b))
	}
	os.MkdirAll(filepath.Join(dir, "routes"), 0o755)
	os.WriteFile(filepath.Join(dir, "routes", "comune-a.yaml"), []byte(`
ente: {name: Comune A, codice_fiscale: "80008630420", offices: [UFA000]}
auth: {client_certs: ["`+strings.Join(fp, ":")+`"], tokens: ["${TOKEN_A}"]}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "snodo.yaml"), []byte(fmt.Sprintf("listen: {https: 127.0.0.1:0, tls: {cert: %s, key: %s, client_ca: %s}}\n"+
		"data_dir: data\nroutes_dir: routes\n", certFile, keyFile, caFile)), 0o644)
	l := &route.Loader{Channels: channel.NewRegistry(), Getenv: func(string) string { return tokenA }}
	cfg, err := l.LoadConfig(filepath.Join(dir, "snodo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := l.LoadRoutes(cfg.RoutesDir)
	if err != nil {
		t.Fatal(err)
	}
	flow := &lateFlow{}
	mod := api.NewModule(flow, nil)
	h, err := hub.New(hub.Options{Config: cfg, Routes: rs, Channels: l.Channels, Modules: []hub.Module{mod}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	select {
	case <-h.Ready():
	case err := <-done:
		t.Fatalf("hub: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("hub did not start")
	}
	defer func() { cancel(); <-done }()
	flow.st = h.Store

	post := func(cert *tls.Certificate, auth string) (int, string) {
		cfg := &tls.Config{RootCAs: serverCA.Pool()}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
		req, _ := http.NewRequest("POST", "https://"+h.Addr("https")+"/api/v1/fatture-attive?nome_file=IT01234567890_FPA01.xml",
			strings.NewReader(string(fixture(t, "IT01234567890_FPA01.xml"))))
		req.Header.Set("Content-Type", "application/xml")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tc := cli.TLS()
	if st, body := post(&tc, ""); st != 202 || !strings.Contains(body, `"FA00"`) {
		t.Fatalf("with the client certificate: %d %s", st, body)
	}
	if st, body := post(nil, bearer(tokenA)); st != 200 || !strings.Contains(body, `"duplicato":true`) {
		t.Fatalf("with the token: %d %s", st, body)
	}
	if st, _ := post(nil, ""); st != 401 {
		t.Fatalf("without credentials: %d", st)
	}
	if mod.API == nil {
		t.Fatal("the module did not keep its API")
	}
	// The passive flow is absent: an outcome for an invoice the ente does not have is still
	// refused (404 EN02) before it would reach the flow.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: serverCA.Pool()}}}
	req, _ := http.NewRequest("POST", "https://"+h.Addr("https")+"/api/v1/fatture-passive/1/esito", strings.NewReader(`{"esito":"EC01"}`))
	req.Header.Set("Authorization", bearer(tokenA))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 { // no invoice 1 for comune-a: refused before the flow
		t.Fatalf("outcome without a passive flow: %d", resp.StatusCode)
	}
}

// lateFlow is an active flow whose store arrives once the hub opened it.
type lateFlow struct {
	activeFlow
}

func (f *lateFlow) SubmitInvoice(ctx context.Context, ente, name string, data []byte, via string) (api.SubmitResult, error) {
	return f.activeFlow.SubmitInvoice(ctx, ente, name, data, via)
}
