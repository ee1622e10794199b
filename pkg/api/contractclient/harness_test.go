package contractclient_test

// This file is the only one here that knows the server: it starts snodo's API with a
// real SQLite store, two enti and simple flows, and hands the client its base URL and
// credentials. client_test.go talks to it knowing only the published documents.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snodo/pkg/api"
	"snodo/pkg/channel"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/store"
)

// server is what the client is told: where the hub is and its credentials.
type server struct {
	base       string
	token      string // comune-a's API token
	user, pass string // comune-a's IntermediaMarche-style credentials
	office     string
	fiscalCode string
	received   []string // IdentificativoSdI of the invoices comune-a received
}

type flows struct{ st store.Store }

func (f flows) SubmitInvoice(ctx context.Context, ente, name string, data []byte, via string) (api.SubmitResult, error) {
	sum := sha256.Sum256(data)
	id, created, err := f.st.Ingest(ctx, store.NewMessage{Message: &message.Message{Ente: ente, Flow: message.FlowActive,
		Kind: message.KindInvoice, FileName: name, DedupKey: "a:" + ente + ":" + hex.EncodeToString(sum[:]),
		Files: []message.File{{Name: name, Role: message.RoleMain, Data: data}}}})
	return api.SubmitResult{MessageID: id, Duplicate: !created}, err
}

func (f flows) SubmitOutcome(ctx context.Context, ente string, o api.Outcome) (api.OutcomeResult, error) {
	name := o.NomeFile
	if name == "" {
		name = "IT01234567890_" + o.IdentificativoSdI + "_EC_001.xml"
	}
	id, created, err := f.st.Ingest(ctx, store.NewMessage{Message: &message.Message{Ente: ente, Flow: message.FlowPassive,
		Kind: message.KindOutcome, FileName: name, ParentID: o.Invoice, DedupKey: "ec:" + string(o.Invoice),
		Headers: map[string]string{"Esito": o.Esito}, Files: []message.File{{Name: name, Role: message.RoleMain, Data: append([]byte(o.Esito), o.File...)}}}})
	return api.OutcomeResult{MessageID: id, Duplicate: !created}, err
}

func startServer(t *testing.T) server {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	os.MkdirAll(filepath.Join(dir, "routes"), 0o755)
	os.WriteFile(filepath.Join(dir, "routes", "comune-a.yaml"), []byte(`
ente: {name: Comune A, codice_fiscale: "80008630420", offices: [UFA000]}
auth: {tokens: ["token-comune-a-0123456789abcdef"], username: ws-a, password: "${PW}"}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "routes", "comune-b.yaml"), []byte(`
ente: {name: Comune B, codice_fiscale: "80014930327", offices: [UFB000]}
auth: {tokens: ["token-comune-b-0123456789abcdef"]}
`), 0o644)
	l := &route.Loader{Channels: channel.NewRegistry(), Getenv: func(string) string { return "pw-comune-a" }}
	rs, err := l.LoadRoutes(filepath.Join(dir, "routes"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Config{Store: st, Routes: rs, Active: flows{st}, Passive: flows{st}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	s := server{base: srv.URL, token: "token-comune-a-0123456789abcdef", user: "ws-a", pass: "pw-comune-a", office: "UFA000", fiscalCode: "80008630420"}
	inv, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "ws", "IT01234567890_11111.xml.p7m"))
	if err != nil {
		t.Fatal(err)
	}
	// Three invoices received from the SdI for comune-a, one for comune-b.
	for i, id := range []string{"111", "112", "113", "999"} {
		ente := "comune-a"
		if id == "999" {
			ente = "comune-b"
		}
		name := strings.Replace("IT01234567890_1111N.xml.p7m", "N", string(rune('1'+i)), 1)
		if _, _, err := st.Ingest(context.Background(), store.NewMessage{Keys: []string{"sdi:" + id}, Message: &message.Message{Ente: ente,
			Flow: message.FlowPassive, Kind: message.KindInvoice, FileName: name, Headers: map[string]string{message.HeaderIdentificativoSdI: id},
			Files: []message.File{{Name: name, Role: message.RoleMain, Data: inv}}}}); err != nil {
			t.Fatal(err)
		}
		if ente == "comune-a" {
			s.received = append(s.received, id)
		}
	}
	return s
}
