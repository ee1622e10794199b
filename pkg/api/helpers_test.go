package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"snodo/pkg/api"
	"snodo/pkg/api/openapitest"
	"snodo/pkg/channel"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/sdi"
	"snodo/pkg/store"
	"snodo/pkg/testpki"
)

// Credentials of the test enti.
const (
	tokenA = "token-comune-a-0123456789abcdef"
	tokenB = "token-comune-b-0123456789abcdef"
	tokenC = "token-comune-c-0123456789abcdef"
	userA  = "comune-a-ws"
	passA  = "password-del-comune-a"
	certA  = "client.comune-a.test"
)

var routeFiles = map[string]string{
	"comune-a.yaml": `
ente: {name: Comune A, codice_fiscale: "80008630420", offices: [UFA000, UFA001]}
auth:
  tokens: ["${TOKEN_A}"]
  client_certs: ["` + certA + `"]
  username: ` + userA + `
  password: "${PASS_A}"
`,
	"comune-b.yaml": `
ente: {name: Comune B, codice_fiscale: "80014930327", offices: [UFB000]}
auth: {tokens: ["${TOKEN_B}"]}
`,
	"comune-c.yaml": `
ente: {name: Comune C, codice_fiscale: "00000000018", offices: [UFC000], enabled: false}
auth: {tokens: ["${TOKEN_C}"]}
`,
}

// activeFlow is a simple active flow over the real store: it refuses a file holding
// "ERRORE" with an SdI code, and stores the rest once per (ente, content).
type activeFlow struct {
	st   store.Store
	mu   sync.Mutex
	fail error // when set, SubmitInvoice fails with it
	via  []string
}

func (f *activeFlow) SubmitInvoice(ctx context.Context, ente, name string, data []byte, via string) (api.SubmitResult, error) {
	f.mu.Lock()
	fail := f.fail
	f.via = append(f.via, via)
	f.mu.Unlock()
	if fail != nil {
		return api.SubmitResult{}, fail
	}
	if bytes.Contains(data, []byte("ERRORE")) {
		return api.SubmitResult{Errors: []api.Problem{{Code: "00200", Message: "File non conforme al formato: elemento Numero mancante (missing element)",
			Path: "/FatturaElettronica/FatturaElettronicaBody/DatiGenerali", Line: 12}}}, nil
	}
	sum := sha256.Sum256(data)
	m := &message.Message{Ente: ente, Flow: message.FlowActive, Kind: message.KindInvoice, FileName: name, Source: via,
		DedupKey: "active:" + ente + ":" + hex.EncodeToString(sum[:]), Headers: map[string]string{"Via": via},
		Files: []message.File{{Name: name, Role: message.RoleMain, Data: data}}}
	id, created, err := f.st.Ingest(ctx, store.NewMessage{Message: m,
		Events: []message.Event{{Type: message.EventReceived, Detail: "ricevuta via " + via}}})
	if err != nil {
		return api.SubmitResult{}, err
	}
	return api.SubmitResult{MessageID: id, Duplicate: !created, State: message.StateReceived}, nil
}

// passiveFlow is a simple passive flow over the real store: an outcome per invoice, the
// second one for the same invoice is closed.
type passiveFlow struct {
	st       store.Store
	mu       sync.Mutex
	outcomes []api.Outcome
}

func (f *passiveFlow) SubmitOutcome(ctx context.Context, ente string, o api.Outcome) (api.OutcomeResult, error) {
	inv, err := f.st.Get(ctx, o.Invoice)
	if err != nil {
		return api.OutcomeResult{}, err
	}
	if inv.Ente != ente {
		return api.OutcomeResult{}, api.ErrInvoiceNotFound
	}
	if o.File != nil && o.Esito == "" {
		return api.OutcomeResult{Errors: []api.Problem{{Code: "EN08", Message: "Esito mancante (missing Esito)"}}}, nil
	}
	f.mu.Lock()
	f.outcomes = append(f.outcomes, o)
	f.mu.Unlock()
	name := o.NomeFile
	data := o.File
	if name == "" {
		name = strings.TrimSuffix(strings.TrimSuffix(inv.FileName, ".p7m"), ".xml") + "_EC_001.xml"
		ec := &sdi.NotificaEsitoCommittente{EsitoCommittente: sdi.EsitoCommittente{IdentificativoSdI: sdi.IdentificativoSdI(o.IdentificativoSdI),
			Esito: o.Esito, Descrizione: o.Descrizione}}
		if data, err = sdi.Marshal(ec); err != nil {
			return api.OutcomeResult{}, err
		}
	}
	var id message.ID
	var created bool
	err = f.st.WithTx(ctx, func(tx store.Tx) error {
		cur, err := tx.Get(inv.ID)
		if err != nil {
			return err
		}
		if cur.Header("Esito") != "" {
			return api.ErrOutcomeClosed
		}
		id, created, err = tx.Ingest(store.NewMessage{Message: &message.Message{Ente: ente, Flow: message.FlowPassive, Kind: message.KindOutcome,
			FileName: name, ParentID: inv.ID, CorrelationID: string(inv.ID), DedupKey: "ec:" + string(inv.ID),
			Files: []message.File{{Name: name, Role: message.RoleMain, Data: data}}}})
		if err != nil {
			return err
		}
		return tx.MergeHeaders(inv.ID, map[string]string{"Esito": o.Esito})
	})
	if err != nil {
		return api.OutcomeResult{}, err
	}
	return api.OutcomeResult{MessageID: id, Duplicate: !created}, nil
}

// env is a running API over HTTPS with a real SQLite store and three enti.
type env struct {
	st      store.Store
	routes  *route.Routes
	srv     *httptest.Server
	doc     *openapitest.Doc
	active  *activeFlow
	passive *passiveFlow
	roots   *x509.CertPool
	certA   tls.Certificate // comune-a's client certificate
	certX   tls.Certificate // a certificate of the same CA that names no ente
}

func newEnv(t testing.TB, tweak func(*api.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rdir := filepath.Join(dir, "routes")
	os.MkdirAll(rdir, 0o755)
	for n, body := range routeFiles {
		os.WriteFile(filepath.Join(rdir, n), []byte(body), 0o644)
	}
	envs := map[string]string{"TOKEN_A": tokenA, "TOKEN_B": tokenB, "TOKEN_C": tokenC, "PASS_A": passA}
	l := &route.Loader{Channels: channel.NewRegistry(), Getenv: func(k string) string { return envs[k] }}
	rs, err := l.LoadRoutes(rdir)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, routes: rs, active: &activeFlow{st: st}, passive: &passiveFlow{st: st}}
	cfg := api.Config{Store: st, Routes: rs, Active: e.active, Passive: e.passive, MaxInvoiceBytes: 1 << 20}
	if tweak != nil {
		tweak(&cfg)
	}
	a, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if e.doc, err = openapitest.Load(api.OpenAPI); err != nil {
		t.Fatal(err)
	}
	serverCA := testpki.MustCA("CA dell'hub")
	clientCA := testpki.MustCA("CA dei client")
	srvCert, err := serverCA.Server("hub.test", testpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := clientCA.Client(certA, testpki.Options{})
	cx, _ := clientCA.Client("sdi.test", testpki.Options{})
	e.certA, e.certX = ca.TLS(), cx.TLS()
	e.roots = serverCA.Pool()
	e.srv = httptest.NewUnstartedServer(a.Handler())
	// As the hub's listener: client certificates verified when given.
	e.srv.TLS = &tls.Config{Certificates: []tls.Certificate{srvCert.TLS()}, ClientCAs: clientCA.Pool(), ClientAuth: tls.VerifyClientCertIfGiven}
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	return e
}

// client returns an HTTPS client trusting the hub, presenting cert when not nil.
func (e *env) client(cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: e.roots}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 20 * time.Second}
}

// call is one request.
type call struct {
	method, path string
	auth         string // Authorization value
	cert         *tls.Certificate
	ct           string
	body         []byte
	header       map[string]string
}

// do sends a request and checks a JSON answer of /api/v1 against the OpenAPI document.
func (e *env) do(t testing.TB, c call) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, e.srv.URL+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	if c.ct != "" {
		req.Header.Set("Content-Type", c.ct)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := e.client(c.cert).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if p := req.URL.Path; strings.HasPrefix(p, "/api/v1/") {
		if _, ok := e.doc.Find(c.method, p); ok {
			if err := e.doc.CheckResponse(c.method, p, resp.StatusCode, resp.Header.Get("Content-Type"), data); err != nil {
				t.Errorf("the answer breaks the OpenAPI document: %v\n%s", err, data)
			}
		}
	}
	return resp, data
}

func bearer(tok string) string { return "Bearer " + tok }

// decode reads a JSON answer.
func decode[T any](t testing.TB, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	return v
}

// fixture reads a file of testdata/ws.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "ws", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// receive stores a passive invoice of an ente as the passive flow would: with the
// sdi:<id> key the API looks it up by.
func (e *env) receive(t testing.TB, ente, idSdI, name string) message.ID {
	t.Helper()
	m := &message.Message{Ente: ente, Flow: message.FlowPassive, Kind: message.KindInvoice, FileName: name,
		Headers: map[string]string{message.HeaderIdentificativoSdI: idSdI, message.HeaderCodiceDestinatario: "UFA000"},
		Files: []message.File{{Name: name, Role: message.RoleMain, Data: fixture(t, "IT01234567890_11111.xml.p7m")},
			{Name: "IT01234567890_11111_MT_001.xml", Role: message.RoleMetadata, Data: fixture(t, "IT01234567890_11111_MT_001.xml")}}}
	id, _, err := e.st.Ingest(context.Background(), store.NewMessage{Message: m, Keys: []string{"sdi:" + idSdI}})
	if err != nil {
		t.Fatal(err)
	}
	return id
}
