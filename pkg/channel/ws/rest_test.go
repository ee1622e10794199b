package ws_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snodo/pkg/api/openapitest"
	"snodo/pkg/channel"
	"snodo/pkg/channel/ws"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/testpki"
)

// TestRESTRaw posts the file as received with its metadata in headers, bearer token.
func TestRESTRaw(t *testing.T) {
	es := newEnteServer(t, serverOpts{}, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"numero_protocollo": 4242, "data_protocollo": "2026-01-31"}`)
	})
	set := &ws.Settings{Style: ws.StyleREST, Token: "un-token-lungo-abbastanza-123", MetadataHeader: true}
	s := newSender(t, es.endpoint(t, "/fatture", set, nil))
	d := invoiceDelivery(t)
	d.Headers["Oggetto"] = "Fornitura città\r\nX-Injected: yes"
	d.Headers["Cedente"] = "Società Città Srl"
	res, err := s.Send(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if res.Headers[message.HeaderNumeroProtocollo] != "4242" || res.Headers[message.HeaderDataProtocollo] != "2026-01-31" {
		t.Errorf("result headers %v, want the protocol number and date", res.Headers)
	}
	r := es.requests()[0]
	if !bytes.Equal(r.Body, d.Files[0].Data) {
		t.Error("the body is not the file as received")
	}
	want := map[string]string{
		"Content-Type":                   "application/pkcs7-mime",
		"Authorization":                  "Bearer un-token-lungo-abbastanza-123",
		"Idempotency-Key":                string(d.MessageID),
		ws.HeaderGovWayIdentificativoSdI: "111",
		ws.HeaderGovWayNomeFile:          "IT01234567890_11111.xml.p7m",
		ws.HeaderGovWayNomeFileMetadati:  "IT01234567890_11111_MT_001.xml",
		ws.HeaderSnodoIdMessaggio:        string(d.MessageID),
		ws.HeaderSnodoIdentificativoSdI:  "111",
		"Snodo-CodiceDestinatario":       "UFA000",
		ws.HeaderSnodoEnte:               "comune-a",
		ws.HeaderSnodoFase:               "passive.protocol",
		ws.HeaderSnodoTentativo:          "1",
		ws.HeaderSnodoNomeFileMetadati:   "IT01234567890_11111_MT_001.xml",
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	meta, err := base64.StdEncoding.DecodeString(r.Header.Get(ws.HeaderGovWayFileMetadati))
	if err != nil || !bytes.Equal(meta, d.Files[1].Data) {
		t.Errorf("GovWay-SDI-FileMetadati does not carry the MT file: %v", err)
	}
	if r.Header.Get("Snodo-Oggetto") != "" || r.Header.Get("X-Injected") != "" {
		t.Error("a header value with CR LF went on the wire")
	}
	dec := new(mime.WordDecoder)
	if got, err := dec.DecodeHeader(r.Header.Get("Snodo-Cedente")); err != nil || got != "Società Città Srl" {
		t.Errorf("non-ASCII header: %q (%v)", r.Header.Get("Snodo-Cedente"), err)
	}

	// GovWay names only; the protocol number in headers.
	es.setHandler(func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set(ws.HeaderSnodoNumeroProtocollo, "PG/2026/7")
		w.WriteHeader(http.StatusCreated)
	})
	set2 := &ws.Settings{Style: ws.StyleREST, Token: "un-token-lungo-abbastanza-123", Headers: ws.HeadersGovWay}
	s2 := newSender(t, es.endpoint(t, "/fatture", set2, nil))
	res, err = s2.Send(context.Background(), invoiceDelivery(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.Headers[message.HeaderNumeroProtocollo] != "PG/2026/7" {
		t.Errorf("protocol number from headers: %v", res.Headers)
	}
	last := es.requests()[1]
	for k := range last.Header {
		if strings.HasPrefix(k, "Snodo-") {
			t.Errorf("headers: govway still sent %s", k)
		}
	}
	if last.Header.Get(ws.HeaderGovWayFileMetadati) != "" {
		t.Error("the MT file travelled without metadata_header")
	}
}

// TestRESTJSONWithMutualTLS posts the JSON document to a server that requires a client
// certificate, with Basic authentication on top.
func TestRESTJSONWithMutualTLS(t *testing.T) {
	clientCA := testpki.MustCA("CA client di snodo")
	es := newEnteServer(t, serverOpts{clientCA: clientCA}, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.WriteHeader(http.StatusAccepted)
	})
	dir := t.TempDir()
	cli, err := clientCA.Client("snodo.hub.test", testpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := cli.WriteFiles(dir, "snodo")
	if err != nil {
		t.Fatal(err)
	}
	set := &ws.Settings{Style: ws.StyleREST, Format: ws.FormatJSON}
	ep := es.endpoint(t, "/json", set, func(ep *channel.Endpoint) {
		ep.TLS.CertFile, ep.TLS.KeyFile = certFile, keyFile
		ep.Username, ep.Password = "contabilita", "pw"
	})
	s := newSender(t, ep)
	d := invoiceDelivery(t)
	d.Attempt = 3
	if _, err := s.Send(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	r := es.requests()[0]
	if r.ClientCN != "snodo.hub.test" {
		t.Errorf("client certificate CN %q", r.ClientCN)
	}
	if r.Header.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("contabilita:pw")) {
		t.Errorf("Authorization %q", r.Header.Get("Authorization"))
	}
	// The body follows the Consegna schema the OpenAPI document publishes for enti.
	oa, err := os.ReadFile(filepath.Join("..", "..", "api", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	contract, err := openapitest.Load(oa)
	if err != nil {
		t.Fatal(err)
	}
	var generic any
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		t.Fatal(err)
	}
	if err := contract.Validate(contract.Schema("Consegna"), generic); err != nil {
		t.Fatalf("the JSON delivery breaks the published Consegna schema: %v", err)
	}
	var doc ws.Document
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.IdMessaggio != string(d.MessageID) || doc.IdentificativoSdI != "111" || doc.Tentativo != 3 || doc.Fase != "passive.protocol" ||
		doc.NomeFile != "IT01234567890_11111.xml.p7m" || len(doc.File) != 2 || doc.Metadati["CodiceDestinatario"] != "UFA000" {
		t.Fatalf("document %+v", doc)
	}
	for i, f := range doc.File {
		sum := sha256.Sum256(d.Files[i].Data)
		if !bytes.Equal(f.Dati, d.Files[i].Data) || f.SHA256 != hex.EncodeToString(sum[:]) || f.Ruolo != d.Files[i].Role {
			t.Errorf("file %d: %s %s %s", i, f.Nome, f.Ruolo, f.SHA256)
		}
	}
	if doc.File[1].ContentType != "application/xml" || doc.File[0].ContentType != "application/pkcs7-mime" {
		t.Errorf("content types %q %q", doc.File[0].ContentType, doc.File[1].ContentType)
	}

	// Without the client certificate the handshake fails: retried, not permanent.
	ep2 := es.endpoint(t, "/json", set, nil)
	if _, err := newSender(t, ep2).Send(context.Background(), invoiceDelivery(t)); err == nil || channel.IsPermanent(err) {
		t.Fatalf("without a client certificate: %v, want a retryable error", err)
	}
}

// TestRESTStatuses checks which answers are retried.
func TestRESTStatuses(t *testing.T) {
	var status int
	other := newEnteServer(t, serverOpts{plain: true}, func(w http.ResponseWriter, r *http.Request, body []byte) {
		t.Error("a redirect was followed")
	})
	es := newEnteServer(t, serverOpts{}, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if status == 302 {
			w.Header().Set("Location", other.srv.URL)
		}
		w.WriteHeader(status)
		fmt.Fprint(w, `{"errore":"campo mancante"}`)
	})
	cases := []struct {
		status   int
		retry    []int
		ok, perm bool
	}{
		{200, nil, true, false}, {204, nil, true, false},
		{500, nil, false, false}, {502, nil, false, false}, {503, nil, false, false},
		{408, nil, false, false}, {429, nil, false, false},
		{400, nil, false, true}, {401, nil, false, true}, {403, nil, false, true}, {404, nil, false, true}, {409, nil, false, true},
		{409, []int{409}, false, false},
		{302, nil, false, true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d retry=%v", c.status, c.retry), func(t *testing.T) {
			status = c.status
			s := newSender(t, es.endpoint(t, "/", &ws.Settings{Style: ws.StyleREST, RetryStatuses: c.retry}, nil))
			_, err := s.Send(context.Background(), invoiceDelivery(t))
			if c.ok != (err == nil) || err != nil && channel.IsPermanent(err) != c.perm {
				t.Fatalf("HTTP %d: err %v, want ok=%v permanent=%v", c.status, err, c.ok, c.perm)
			}
			if err != nil && !strings.Contains(err.Error(), fmt.Sprint(c.status)) {
				t.Fatalf("error %q does not name the status", err)
			}
		})
	}
}

// TestHostileDeliveries refuses what cannot be delivered safely, before any request.
func TestHostileDeliveries(t *testing.T) {
	es := newEnteServer(t, serverOpts{}, func(w http.ResponseWriter, r *http.Request, body []byte) { w.WriteHeader(200) })
	for _, set := range []*ws.Settings{{Style: ws.StyleREST}, {Style: ws.StyleSOAP, Contract: ws.ContractRegistrazione}} {
		s := newSender(t, es.endpoint(t, "/", set, nil))
		for _, name := range []string{"../evil.xml", "a/b.xml", "x\x00.xml", ".."} {
			d := invoiceDelivery(t)
			d.FileName = name
			if _, err := s.Send(context.Background(), d); !channel.IsPermanent(err) {
				t.Errorf("%s: Send(%q) = %v, want a permanent error", set.Style, name, err)
			}
		}
		if _, err := s.Send(context.Background(), &channel.Delivery{MessageID: message.NewID()}); !channel.IsPermanent(err) {
			t.Errorf("%s: a delivery without files: %v", set.Style, err)
		}
	}
	if n := len(es.requests()); n != 0 {
		t.Fatalf("%d hostile deliveries reached the ente", n)
	}
}

// TestSettingsFromRoute decodes ws endpoints from route files, strictly.
func TestSettingsFromRoute(t *testing.T) {
	env := map[string]string{"TOKEN_ENTE": "token-dal-segreto-0123456789", "PW": "pw"}
	l := &route.Loader{Channels: channel.NewRegistry(ws.Kind()), Getenv: func(k string) string { return env[k] }}
	load := func(t *testing.T, phase string) (*route.Routes, error) {
		dir := t.TempDir()
		body := "ente: {name: Comune A, codice_fiscale: \"00000000000\", offices: [UFA000]}\n" + phase
		if err := os.WriteFile(filepath.Join(dir, "comune-a.yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return l.LoadRoutes(dir)
	}
	good := []string{
		"passive: {protocol: {channel: ws, url: \"https://protocollo.ente.it/ws\", username: hub, password: \"${PW}\", settings: {style: soap, contract: intermediamarche-registrazione, timeout: 30s}}}",
		"active: {notifications: {channel: ws, url: \"https://erp.ente.it/notifiche\", settings: {style: soap, contract: intermediamarche-notifica-attiva, token: \"${TOKEN_ENTE}\", esito_negativo_nz: true}}}",
		"passive: {accounting: {channel: ws, url: \"http://127.0.0.1:9000/in\", settings: {style: rest, format: json, retry_statuses: [409]}}}",
		"passive: {protocol: {channel: ws, url: \"http://10.0.0.5/in\", settings: {style: rest, allow_plain_http: true, headers: govway, metadata_header: true}}}",
	}
	for _, g := range good {
		rs, err := load(t, g)
		if err != nil {
			t.Fatalf("%s: %v", g, err)
		}
		for _, p := range rs.Plan("comune-a") {
			s := p.Endpoint.Settings.(*ws.Settings)
			if s.Token != "" && s.Token != env["TOKEN_ENTE"] {
				t.Errorf("token not resolved: %q", s.Token)
			}
			if _, err := ws.NewSender(p.Endpoint, channel.Deps{}); err != nil {
				t.Errorf("%s: NewSender: %v", g, err)
			}
		}
	}
	// A token written as file:/path is read from the file.
	secret := filepath.Join(t.TempDir(), "token")
	os.WriteFile(secret, []byte("token-da-file-0123456789\n"), 0o600)
	rs, err := load(t, "passive: {protocol: {channel: ws, url: \"https://x.it/ws\", settings: {style: rest, token: \"file:"+secret+"\"}}}")
	if err != nil {
		t.Fatal(err)
	}
	if ep, _ := rs.Endpoint("comune-a", "passive.protocol"); ep.Settings.(*ws.Settings).Token != "token-da-file-0123456789" {
		t.Errorf("token from file: %q", ep.Settings.(*ws.Settings).Token)
	}
	bad := []struct{ route, mention string }{
		{"passive: {protocol: {channel: ws, url: \"https://x.it/ws\", settings: {style: rest, token: \"file:/nonexistent/token\"}}}", "non leggibile"},
		{"passive: {protocol: {channel: ws, url: \"https://x.it/ws\", settings: {contract: intermediamarche-registrazione}}}", "style"},
		{"passive: {protocol: {channel: ws, url: \"https://x.it/ws\", settings: {style: soap}}}", "contract"},
		{"passive: {protocol: {channel: ws, url: \"https://x.it/ws\", settings: {style: soap, contract: paleo}}}", "paleo"},
		{"passive: {protocol: {channel: ws, url: \"https://x.it/ws\", settings: {style: rest, format: xml}}}", "format"},
		{"passive: {protocol: {channel: ws, url: \"https://x.it/ws\", settings: {style: rest, stile: rest}}}", "stile"},
		{"passive: {protocol: {channel: ws, url: \"https://x.it/ws\", settings: {style: rest, auth: bearer}}}", "token"},
		{"passive: {protocol: {channel: ws, url: \"https://x.it/ws\", settings: {style: rest, auth: basic}}}", "username"},
		{"passive: {protocol: {channel: ws, url: \"https://x.it/ws\", username: a, settings: {style: rest, token: \"${TOKEN_ENTE}\"}}}", "bearer"},
		{"passive: {protocol: {channel: ws, url: \"http://protocollo.ente.it/ws\", settings: {style: rest}}}", "allow_plain_http"},
		{"passive: {protocol: {channel: ws, url: \"ftp://x.it/ws\", settings: {style: rest}}}", "ftp"},
		{"passive: {protocol: {channel: ws, url: \"https://x.it/ws\", settings: {style: rest, retry_statuses: [503]}}}", "4xx"},
		{"passive: {protocol: {channel: ws, url: \"https://x.it/ws\", settings: {style: rest, timeout: 1h}}}", "timeout"},
		{"passive: {protocol: {channel: ws, url: \"https://x.it/ws\", settings: {style: rest, idempotency_header: \"Bad Header\"}}}", "idempotency_header"},
		{"active: {submit: {channel: ws, url: \"https://x.it/ws\", settings: {style: rest}}}", "ws"},
	}
	for _, b := range bad {
		_, err := load(t, b.route)
		if err == nil || !strings.Contains(err.Error(), b.mention) {
			t.Errorf("%s: %v, want an error naming %q", b.route, err, b.mention)
		}
	}
}
