package active_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"snodo/pkg/api"
	"snodo/pkg/channel"
	"snodo/pkg/channel/ftp/ftptest"
	pecchannel "snodo/pkg/channel/pec"
	pecsim "snodo/pkg/pec/sim"
	"snodo/pkg/testpki"
)

// site is how ente a's systems talk to the hub in a test: the channel its invoices come
// on and where the hub's receipts and notifications land.
type site struct {
	kind  string
	route string
	api   bool
	kinds []*channel.Kind
	// outcomes is true when the receipts come as files (not for the API: its answer is
	// the receipt).
	outcomes  bool
	submit    func(t testing.TB, e *env, name string, data []byte)
	delivered func(t testing.TB, e *env) map[string][]byte
}

func (s site) options(o envOptions) envOptions {
	o.routes = map[string]string{"a": s.route}
	o.api = o.api || s.api
	o.kinds = append(o.kinds, s.kinds...)
	return o
}

// waitDelivered waits for a file delivered to the ente whose name matches.
func (s site) waitDelivered(t testing.TB, e *env, match func(string) bool) (string, []byte) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := s.delivered(t, e)
		for n, b := range got {
			if match(n) {
				return n, b
			}
		}
		if time.Now().After(deadline) {
			names := make([]string, 0, len(got))
			for n := range got {
				names = append(names, n)
			}
			t.Fatalf("%s: nothing delivered matches; got %v", s.kind, names)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func readDir(dir string) map[string][]byte {
	out := map[string][]byte{}
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		if en.IsDir() || strings.HasPrefix(en.Name(), ".") {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, en.Name())); err == nil {
			out[en.Name()] = b
		}
	}
	return out
}

// newSite starts what a kind of site needs (an FTP server, a PEC provider).
func newSite(t *testing.T, kind string) site {
	t.Helper()
	switch kind {
	case "fs":
		return site{kind: kind, route: enteRoute("a", pivaA, "UFA000", ""), outcomes: true,
			submit:    func(t testing.TB, e *env, name string, data []byte) { drop(t, e.data("a", "in"), name, data) },
			delivered: func(t testing.TB, e *env) map[string][]byte { return readDir(e.data("a", "out")) }}
	case "ftp":
		srv := ftptest.Start(t, ftptest.Options{})
		os.MkdirAll(srv.Path("a/in"), 0o755)
		return site{kind: kind, outcomes: true, route: fmt.Sprintf(`ente: {id: a, name: Comune A, codice_fiscale: "%s", offices: [UFA000]}
active:
  submit: {channel: ftp, url: "ftp://%s/a/in", username: hub, password: secret, settings: {poll: 30ms, stable: none}}
  notifications: {channel: ftp, url: "ftp://%s/a/out", username: hub, password: secret}
`, pivaA, srv.Addr, srv.Addr),
			submit:    func(t testing.TB, e *env, name string, data []byte) { drop(t, srv.Path("a/in"), name, data) },
			delivered: func(t testing.TB, e *env) map[string][]byte { return readDir(srv.Path("a/out")) }}
	case "api":
		const token = "token-di-prova-ente-a-0123456789"
		return site{kind: kind, api: true, route: enteRoute("a", pivaA, "UFA000", "") + "auth: {tokens: [\"" + token + "\"]}\n",
			submit: func(t testing.TB, e *env, name string, data []byte) {
				t.Helper()
				if status, ans := restSubmit(t, e, token, name, data); status != http.StatusAccepted || ans.Codice != "FA00" {
					t.Fatalf("REST %s: %d %+v", name, status, ans)
				}
			},
			delivered: func(t testing.TB, e *env) map[string][]byte { return readDir(e.data("a", "out")) }}
	case "pec":
		ps, err := pecsim.Start(context.Background(), pecsim.Config{Mailboxes: []pecsim.Mailbox{{Address: pecHubIn, Password: pecPass},
			{Address: pecHubOut, Password: pecPass}, {Address: pecEnte, Password: pecPass}, {Address: pecStranger, Password: pecPass}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ps.Close() })
		dir := t.TempDir()
		ca := filepath.Join(dir, "pec-ca.pem")
		os.WriteFile(ca, testpki.CertPEM(ps.TLSCA()), 0o644)
		trust := filepath.Join(dir, "gestori")
		os.Mkdir(trust, 0o755)
		os.WriteFile(filepath.Join(trust, "gestore.pem"), testpki.CertPEM(ps.SigningCA()), 0o644)
		route := fmt.Sprintf(`ente: {id: a, name: Comune A, codice_fiscale: "%s", offices: [UFA000], pec: %s}
active:
  submit:
    channel: pec
    url: "imaps://%s/INBOX"
    username: %s
    password: %s
    tls: {ca: %s}
    settings: {trust: %s, poll: 100ms}
  notifications:
    channel: pec
    url: "mailto:%s"
    username: %s
    password: %s
    tls: {ca: %s}
    settings: {smtp: "smtps://%s", imap: "imaps://%s/INBOX", trust: %s}
`, pivaA, pecEnte, ps.IMAPAddr(), pecHubIn, pecPass, ca, trust, pecEnte, pecHubOut, pecPass, ca, ps.SMTPAddr(), ps.IMAPAddr(), trust)
		return site{kind: kind, route: route, outcomes: true, kinds: []*channel.Kind{pecchannel.Kind()},
			submit: func(t testing.TB, e *env, name string, data []byte) { sendPEC(t, ps, pecEnte, pecHubIn, name, data) },
			delivered: func(t testing.TB, e *env) map[string][]byte {
				out := map[string][]byte{}
				for _, env := range readPECs(t, ps, pecEnte) {
					for _, a := range env.Postacert.Attachments {
						out[a.Name] = a.Data
					}
				}
				return out
			},
		}
	}
	t.Fatalf("unknown site kind %s", kind)
	return site{}
}

// restSubmit posts an invoice to the API for enti over HTTPS.
func restSubmit(t testing.TB, e *env, token, name string, data []byte) (int, api.InvoiceAnswer) {
	t.Helper()
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.pki.ca.Pool()}}}
	req, _ := http.NewRequest("POST", "https://"+e.hubAddr+"/api/v1/fatture-attive?nome_file="+url.QueryEscape(name), bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/xml")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans api.InvoiceAnswer
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, ans
}
