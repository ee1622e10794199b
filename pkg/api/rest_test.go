package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"snodo/pkg/api"
	"snodo/pkg/message"
	"snodo/pkg/store"
	snodowsdl "snodo/wsdl/snodo"
)

func basic(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }

func multipartBody(t testing.TB, name string, data []byte, nameField string) (string, []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if nameField != "" {
		mw.WriteField("nome_file", nameField)
	}
	w, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

// TestSubmitInvoice submits the same invoice in every form the API takes, with each
// credential, and a refused one.
func TestSubmitInvoice(t *testing.T) {
	e := newEnv(t, nil)
	inv := fixture(t, "IT01234567890_FPA01.xml")
	name := "IT01234567890_FPA01.xml"

	// Raw body, bearer token.
	resp, data := e.do(t, call{method: "POST", path: "/api/v1/fatture-attive?nome_file=" + name, auth: bearer(tokenA), ct: "application/xml", body: inv})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("raw submit: %d %s", resp.StatusCode, data)
	}
	first := decode[api.InvoiceAnswer](t, data)
	if first.Codice != "FA00" || first.ID == "" || first.Duplicato || resp.Header.Get("Location") != "/api/v1/messaggi/"+first.ID {
		t.Fatalf("answer %+v, Location %q", first, resp.Header.Get("Location"))
	}
	if want, _ := snodowsdl.RicevutaFromMessageID(first.ID); first.RicevutaComunicazione != want {
		t.Fatalf("ricevuta %q, want %q (derived from the message id)", first.RicevutaComunicazione, want)
	}
	m, err := e.st.Get(context.Background(), message.ID(first.ID))
	if err != nil || m.Ente != "comune-a" || m.FileName != name {
		t.Fatalf("stored %+v, %v", m, err)
	}
	stored, _ := e.st.ReadFile(context.Background(), m.ID, name)
	if !bytes.Equal(stored, inv) {
		t.Fatal("the stored file differs from the submitted one")
	}

	// The same file again, multipart with Basic: recognised, same id and receipt.
	ct, body := multipartBody(t, name, inv, "")
	resp, data = e.do(t, call{method: "POST", path: "/api/v1/fatture-attive", auth: basic(userA, passA), ct: ct, body: body})
	again := decode[api.InvoiceAnswer](t, data)
	if resp.StatusCode != http.StatusOK || !again.Duplicato || again.ID != first.ID || again.RicevutaComunicazione != first.RicevutaComunicazione {
		t.Fatalf("resubmission: %d %+v", resp.StatusCode, again)
	}

	// JSON with base64, client certificate only.
	other := bytes.Replace(inv, []byte("<Numero>123</Numero>"), []byte("<Numero>124</Numero>"), 1)
	jb, _ := json.Marshal(map[string]string{"nome_file": "IT01234567890_FPA02.xml", "file": base64.StdEncoding.EncodeToString(other)})
	resp, data = e.do(t, call{method: "POST", path: "/api/v1/fatture-attive", cert: &e.certA, ct: "application/json", body: jb})
	byCert := decode[api.InvoiceAnswer](t, data)
	if resp.StatusCode != http.StatusAccepted || byCert.ID == first.ID {
		t.Fatalf("JSON submit with a certificate: %d %s", resp.StatusCode, data)
	}
	// multipart with an explicit nome_file overriding the part's file name.
	ct, body = multipartBody(t, "fattura.xml", []byte(strings.Replace(string(inv), "123", "125", 1)), "IT01234567890_FPA03.xml")
	resp, data = e.do(t, call{method: "POST", path: "/api/v1/fatture-attive", auth: bearer(tokenA), ct: ct, body: body})
	named := decode[api.InvoiceAnswer](t, data)
	if mm, _ := e.st.Get(context.Background(), message.ID(named.ID)); resp.StatusCode != 202 || mm == nil || mm.FileName != "IT01234567890_FPA03.xml" {
		t.Fatalf("nome_file field: %d %s", resp.StatusCode, data)
	}

	// Refused by the flow: 422 FA02 with the SdI code.
	bad := append(append([]byte{}, inv...), []byte("<!-- ERRORE -->")...)
	resp, data = e.do(t, call{method: "POST", path: "/api/v1/fatture-attive?nome_file=IT01234567890_00009.xml", auth: bearer(tokenA), ct: "text/xml", body: bad})
	refused := decode[api.InvoiceAnswer](t, data)
	if resp.StatusCode != http.StatusUnprocessableEntity || refused.Codice != "FA02" || len(refused.Errori) != 1 || refused.Errori[0].Code != "00200" ||
		refused.Errori[0].Line != 12 || refused.Descrizione != "FILE FATTURA RIFIUTATO: ERRORE VALIDAZIONE FATTURA" {
		t.Fatalf("refusal: %d %s", resp.StatusCode, data)
	}

	// Name, empty file.
	for _, c := range []struct {
		path string
		body []byte
		code string
	}{
		{"/api/v1/fatture-attive?nome_file=" + url.QueryEscape("../x.xml"), inv, "FA04"},
		{"/api/v1/fatture-attive?nome_file=fattura.pdf", inv, "FA04"},
		{"/api/v1/fatture-attive?nome_file=IT01234567890_00010.xml", []byte{}, "FA05"},
	} {
		resp, data = e.do(t, call{method: "POST", path: c.path, auth: bearer(tokenA), ct: "application/xml", body: c.body})
		if got := decode[api.InvoiceAnswer](t, data); resp.StatusCode != 400 || got.Codice != c.code {
			t.Errorf("%s: %d %s, want 400 %s", c.path, resp.StatusCode, data, c.code)
		}
	}
	if e.active.via[0] != api.ViaREST {
		t.Errorf("via %q", e.active.via[0])
	}

	// The flow is down: FA99 500 with Retry-After; no flow at all: 503.
	e.active.fail = errors.New("database locked")
	resp, data = e.do(t, call{method: "POST", path: "/api/v1/fatture-attive?nome_file=IT01234567890_00011.xml", auth: bearer(tokenA), ct: "application/xml", body: inv})
	if got := decode[api.InvoiceAnswer](t, data); resp.StatusCode != 500 || got.Codice != "FA99" || resp.Header.Get("Retry-After") == "" || strings.Contains(string(data), "database") {
		t.Fatalf("flow failure: %d %s", resp.StatusCode, data)
	}
	e.active.fail = nil
	bare := newEnv(t, func(c *api.Config) { c.Active, c.Passive = nil, nil })
	resp, data = bare.do(t, call{method: "POST", path: "/api/v1/fatture-attive?nome_file=IT01234567890_00012.xml", auth: bearer(tokenA), ct: "application/xml", body: inv})
	if resp.StatusCode != 503 {
		t.Fatalf("no active flow: %d %s", resp.StatusCode, data)
	}
}

// TestOutcomes accepts and rejects received invoices, with fields and with an EC file.
func TestOutcomes(t *testing.T) {
	e := newEnv(t, nil)
	inv := e.receive(t, "comune-a", "111", "IT01234567890_11111.xml.p7m")
	e.receive(t, "comune-a", "222", "IT01234567890_22222.xml")

	body := []byte(`{"esito":"EC02","descrizione":"Importo non dovuto","numero_fattura":"1111","anno_fattura":2013}`)
	resp, data := e.do(t, call{method: "POST", path: "/api/v1/fatture-passive/111/esito", auth: bearer(tokenA), ct: "application/json", body: body})
	ans := decode[api.OutcomeAnswer](t, data)
	if resp.StatusCode != 202 || ans.Codice != "EN00" || ans.Fattura != string(inv) || ans.ID == "" {
		t.Fatalf("EC02: %d %s", resp.StatusCode, data)
	}
	got := e.passive.outcomes[0]
	if got.Esito != "EC02" || got.Descrizione != "Importo non dovuto" || got.NumeroFattura != "1111" || got.AnnoFattura != 2013 || got.Invoice != inv || got.Via != api.ViaREST {
		t.Fatalf("outcome handed to the flow: %+v", got)
	}
	// Already decided: 409, not to be repeated.
	resp, data = e.do(t, call{method: "POST", path: "/api/v1/fatture-passive/0111/esito", auth: bearer(tokenA), ct: "application/json", body: []byte(`{"esito":"EC01"}`)})
	if ans := decode[api.OutcomeAnswer](t, data); resp.StatusCode != 409 || ans.Codice != "EN99" {
		t.Fatalf("second outcome: %d %s", resp.StatusCode, data)
	}
	// Unknown invoice; bad fields; not JSON.
	resp, data = e.do(t, call{method: "POST", path: "/api/v1/fatture-passive/999/esito", auth: bearer(tokenA), ct: "application/json", body: []byte(`{"esito":"EC01"}`)})
	if ans := decode[api.OutcomeAnswer](t, data); resp.StatusCode != 404 || ans.Codice != "EN02" {
		t.Fatalf("unknown invoice: %d %s", resp.StatusCode, data)
	}
	for _, b := range []string{`{"esito":"OK"}`, `{"esito":"EC01","anno_fattura":2013}`, `{"esito":"EC01","numero_fattura":"123456789012345678901","anno_fattura":2020}`,
		`{"esito":"EC01","descrizione":"` + strings.Repeat("x", 256) + `"}`} {
		resp, data = e.do(t, call{method: "POST", path: "/api/v1/fatture-passive/222/esito", auth: bearer(tokenA), ct: "application/json", body: []byte(b)})
		if ans := decode[api.OutcomeAnswer](t, data); resp.StatusCode != 400 || ans.Codice != "EN04" || len(ans.Errori) == 0 {
			t.Errorf("%s: %d %s", b, resp.StatusCode, data)
		}
	}
	for _, c := range []struct{ ct, body string }{{"application/json", `{"esito":"EC01","extra":1}`}, {"application/json", `{"esito":`},
		{"application/json", `{"esito":"EC01"} {"esito":"EC02"}`}} {
		resp, data = e.do(t, call{method: "POST", path: "/api/v1/fatture-passive/222/esito", auth: bearer(tokenA), ct: c.ct, body: []byte(c.body)})
		if ans := decode[api.OutcomeAnswer](t, data); resp.StatusCode != 400 || ans.Codice != api.CodeBadRequest {
			t.Errorf("%s: %d %s", c.body, resp.StatusCode, data)
		}
	}
	resp, data = e.do(t, call{method: "POST", path: "/api/v1/fatture-passive/222/esito", auth: bearer(tokenA), ct: "text/plain", body: []byte("EC01")})
	if resp.StatusCode != 415 {
		t.Errorf("text/plain outcome: %d %s", resp.StatusCode, data)
	}

	// An EC file: the official sample names invoice 111, already decided → 409; rewrite
	// it for 222.
	ec := bytes.Replace(fixture(t, "IT01234567890_11111_EC_001.xml"), []byte("<IdentificativoSdI>111<"), []byte("<IdentificativoSdI>222<"), 1)
	resp, data = e.do(t, call{method: "POST", path: "/api/v1/esiti-committente?nome_file=IT01234567890_22222_EC_001.xml", auth: bearer(tokenA), ct: "application/xml", body: ec})
	if ans := decode[api.OutcomeAnswer](t, data); resp.StatusCode != 202 || ans.Codice != "EN00" {
		t.Fatalf("EC file: %d %s", resp.StatusCode, data)
	}
	last := e.passive.outcomes[len(e.passive.outcomes)-1]
	if last.NomeFile != "IT01234567890_22222_EC_001.xml" || !bytes.Equal(last.File, ec) || last.Esito != "EC01" || last.PosizioneFattura != 2 {
		t.Fatalf("EC file handed over: %+v", last)
	}
	for _, c := range []struct {
		name string
		body []byte
		code string
	}{
		{"IT01234567890_22222_RC_001.xml", ec, "EN05"},
		{"esito.xml", ec, "EN05"},
		{"IT01234567890_22222_EC_002.xml", []byte{}, "EN07"},
		{"IT01234567890_22222_EC_003.xml", fixture(t, "IT01234567890_11111_DT_001.xml"), "EN08"},
		{"IT01234567890_22222_EC_004.xml", []byte("<?xml version='1.0'?><!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>"), "EN08"},
	} {
		resp, data = e.do(t, call{method: "POST", path: "/api/v1/esiti-committente?nome_file=" + c.name, auth: bearer(tokenA), ct: "application/xml", body: c.body})
		if ans := decode[api.OutcomeAnswer](t, data); ans.Codice != c.code || resp.StatusCode >= 500 {
			t.Errorf("%s: %d %s, want %s", c.name, resp.StatusCode, data, c.code)
		}
	}
}

// TestReads lists, pages, reads and downloads an ente's messages.
func TestReads(t *testing.T) {
	e := newEnv(t, nil)
	inv := e.receive(t, "comune-a", "111", "IT01234567890_11111.xml.p7m")
	var ids []string
	for i := 0; i < 5; i++ {
		body := bytes.Replace(fixture(t, "IT01234567890_FPA01.xml"), []byte("<Numero>123</Numero>"), []byte(fmt.Sprintf("<Numero>%d</Numero>", 200+i)), 1)
		_, data := e.do(t, call{method: "POST", path: fmt.Sprintf("/api/v1/fatture-attive?nome_file=IT01234567890_%05d.xml", i), auth: bearer(tokenA), ct: "application/xml", body: body})
		ids = append(ids, decode[api.InvoiceAnswer](t, data).ID)
	}
	// Pages of two, newest first, then the filter.
	var seen []string
	cursor := ""
	for page := 0; page < 5; page++ {
		path := "/api/v1/messaggi?flusso=active&limite=2"
		if cursor != "" {
			path += "&prima_di=" + cursor
		}
		resp, data := e.do(t, call{method: "GET", path: path, auth: bearer(tokenA)})
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, data)
		}
		l := decode[api.MessageList](t, data)
		for _, m := range l.Messaggi {
			seen = append(seen, m.ID)
			if m.RicevutaComunicazione == "" || m.Flusso != "active" {
				t.Errorf("list item %+v", m)
			}
		}
		if cursor = l.Prossimo; cursor == "" {
			break
		}
	}
	if len(seen) != 5 || seen[0] != ids[4] || seen[4] != ids[0] {
		t.Fatalf("pages gave %v, want %v newest first", seen, ids)
	}
	_, data := e.do(t, call{method: "GET", path: "/api/v1/messaggi?identificativo_sdi=111", auth: bearer(tokenA)})
	if l := decode[api.MessageList](t, data); len(l.Messaggi) != 1 || l.Messaggi[0].ID != string(inv) || l.Messaggi[0].IdentificativoSdI != "111" {
		t.Fatalf("by IdentificativoSdI: %s", data)
	}

	// Detail with files and timeline; the same through the receipt.
	resp, data := e.do(t, call{method: "GET", path: "/api/v1/messaggi/" + string(inv), auth: bearer(tokenA)})
	v := decode[api.MessageView](t, data)
	if resp.StatusCode != 200 || len(v.File) != 2 || v.File[0].Ruolo != "main" || len(v.Eventi) == 0 || v.Eventi[0].Tipo != "received" {
		t.Fatalf("detail: %d %s", resp.StatusCode, data)
	}
	resp, data = e.do(t, call{method: "GET", path: "/api/v1/fatture-passive/111", auth: bearer(tokenA)})
	if resp.StatusCode != 200 || decode[api.MessageView](t, data).ID != string(inv) {
		t.Fatalf("by SdI id: %d %s", resp.StatusCode, data)
	}
	_, data = e.do(t, call{method: "GET", path: "/api/v1/messaggi/" + ids[2], auth: bearer(tokenA)})
	ric := decode[api.MessageView](t, data).RicevutaComunicazione
	resp, data = e.do(t, call{method: "GET", path: "/api/v1/ricevute/" + ric, auth: bearer(tokenA)})
	if resp.StatusCode != 200 || decode[api.MessageView](t, data).ID != ids[2] {
		t.Fatalf("by receipt %s: %d %s", ric, resp.StatusCode, data)
	}

	// Download: the bytes as stored, with their digest.
	resp, got := e.do(t, call{method: "GET", path: v.File[0].URL, auth: bearer(tokenA)})
	sum := sha256.Sum256(fixture(t, "IT01234567890_11111.xml.p7m"))
	if resp.StatusCode != 200 || !bytes.Equal(got, fixture(t, "IT01234567890_11111.xml.p7m")) || resp.Header.Get("ETag") != `"`+hex.EncodeToString(sum[:])+`"` ||
		resp.Header.Get("Content-Type") != "application/pkcs7-mime" || !strings.Contains(resp.Header.Get("Content-Disposition"), "IT01234567890_11111.xml.p7m") {
		t.Fatalf("download: %d %v", resp.StatusCode, resp.Header)
	}
	for _, p := range []string{v.File[0].URL + "x", "/api/v1/messaggi/" + string(inv) + "/file/..%2f..%2fetc%2fpasswd", "/api/v1/messaggi/nonesiste",
		"/api/v1/messaggi/00000000000000000000000000", "/api/v1/ricevute/IntermediaMarche_00000000000000000000000000000000_2026-01-01T00:00:00"} {
		if resp, data := e.do(t, call{method: "GET", path: p, auth: bearer(tokenA)}); resp.StatusCode != 404 {
			t.Errorf("%s: %d %s", p, resp.StatusCode, data)
		}
	}
	for _, p := range []string{"/api/v1/messaggi?limite=0", "/api/v1/messaggi?limite=1000", "/api/v1/messaggi?flusso=boh", "/api/v1/messaggi?pagina=2",
		"/api/v1/messaggi?prima_di=xyz", "/api/v1/messaggi?da=ieri", "/api/v1/ricevute/abc", "/api/v1/messaggi?limite=1&limite=2"} {
		if resp, data := e.do(t, call{method: "GET", path: p, auth: bearer(tokenA)}); resp.StatusCode != 400 {
			t.Errorf("%s: %d %s", p, resp.StatusCode, data)
		}
	}
}

// TestIsolation: an ente cannot read or act on another ente's messages, and learns
// nothing from trying: the answers equal those for a message that does not exist.
func TestIsolation(t *testing.T) {
	e := newEnv(t, nil)
	invA := e.receive(t, "comune-a", "111", "IT01234567890_11111.xml.p7m")
	_, data := e.do(t, call{method: "POST", path: "/api/v1/fatture-attive?nome_file=IT01234567890_FPA01.xml", auth: bearer(tokenA), ct: "application/xml",
		body: fixture(t, "IT01234567890_FPA01.xml")})
	actA := decode[api.InvoiceAnswer](t, data)
	missing := string(message.NewID())

	for _, c := range []struct{ theirs, none string }{
		{"/api/v1/messaggi/" + string(invA), "/api/v1/messaggi/" + missing},
		{"/api/v1/messaggi/" + string(invA) + "/file/IT01234567890_11111.xml.p7m", "/api/v1/messaggi/" + missing + "/file/IT01234567890_11111.xml.p7m"},
		{"/api/v1/fatture-passive/111", "/api/v1/fatture-passive/999"},
		{"/api/v1/ricevute/" + actA.RicevutaComunicazione, "/api/v1/ricevute/IntermediaMarche_00000000000000000000000000000000_2026-01-01T00:00:00"},
	} {
		r1, d1 := e.do(t, call{method: "GET", path: c.theirs, auth: bearer(tokenB)})
		r2, d2 := e.do(t, call{method: "GET", path: c.none, auth: bearer(tokenB)})
		if r1.StatusCode != 404 || r2.StatusCode != 404 {
			t.Fatalf("%s: %d %s", c.theirs, r1.StatusCode, d1)
		}
		a1, a2 := decode[map[string]any](t, d1), decode[map[string]any](t, d2)
		if a1["codice"] != a2["codice"] || bytes.Contains(d1, []byte("comune-a")) || bytes.Contains(d1, []byte("IT01234567890")) {
			t.Fatalf("%s tells another ente's message from a missing one: %s vs %s", c.theirs, d1, d2)
		}
	}
	_, data = e.do(t, call{method: "GET", path: "/api/v1/messaggi", auth: bearer(tokenB)})
	if l := decode[api.MessageList](t, data); len(l.Messaggi) != 0 {
		t.Fatalf("comune-b lists %d messages of others", len(l.Messaggi))
	}
	_, data = e.do(t, call{method: "GET", path: "/api/v1/messaggi?identificativo_sdi=111", auth: bearer(tokenB)})
	if l := decode[api.MessageList](t, data); len(l.Messaggi) != 0 {
		t.Fatalf("comune-b finds comune-a's invoice by SdI id")
	}
	resp, data := e.do(t, call{method: "POST", path: "/api/v1/fatture-passive/111/esito", auth: bearer(tokenB), ct: "application/json", body: []byte(`{"esito":"EC02"}`)})
	if ans := decode[api.OutcomeAnswer](t, data); resp.StatusCode != 404 || ans.Codice != "EN02" || len(e.passive.outcomes) != 0 {
		t.Fatalf("comune-b rejected comune-a's invoice: %d %s", resp.StatusCode, data)
	}
	ec := fixture(t, "IT01234567890_11111_EC_001.xml")
	resp, data = e.do(t, call{method: "POST", path: "/api/v1/esiti-committente?nome_file=IT01234567890_11111_EC_001.xml", auth: bearer(tokenB), ct: "application/xml", body: ec})
	if resp.StatusCode != 404 || len(e.passive.outcomes) != 0 {
		t.Fatalf("comune-b's EC file for comune-a's invoice: %d %s", resp.StatusCode, data)
	}
	// comune-a can.
	resp, data = e.do(t, call{method: "GET", path: "/api/v1/messaggi/" + string(invA), auth: bearer(tokenA)})
	if resp.StatusCode != 200 {
		t.Fatalf("owner: %d %s", resp.StatusCode, data)
	}
	if _, err := e.st.Get(context.Background(), invA); err != nil {
		t.Fatal(err)
	}
	if ms, _ := e.st.List(context.Background(), store.Filter{Ente: "comune-b"}); len(ms) != 0 {
		t.Fatalf("comune-b got %d messages", len(ms))
	}
}

// TestAuthentication covers each way in and out.
func TestAuthentication(t *testing.T) {
	e := newEnv(t, nil)
	cases := []struct {
		name   string
		c      call
		status int
	}{
		{"no credentials", call{}, 401},
		{"unknown token", call{auth: bearer("token-sconosciuto-0123456789")}, 401},
		{"empty bearer", call{auth: "Bearer "}, 401},
		{"bad basic password", call{auth: basic(userA, "sbagliata")}, 401},
		{"unknown basic user", call{auth: basic("nessuno", passA)}, 401},
		{"basic not base64", call{auth: "Basic %%%"}, 401},
		{"other scheme", call{auth: "Digest x"}, 401},
		{"certificate of no ente", call{cert: &e.certX}, 401},
		{"two enti at once", call{cert: &e.certA, auth: bearer(tokenB)}, 401},
		{"disabled ente", call{auth: bearer(tokenC)}, 403},
		{"token", call{auth: bearer(tokenA)}, 200},
		{"token, lower-case scheme", call{auth: "bearer " + tokenA}, 200},
		{"basic", call{auth: basic(userA, passA)}, 200},
		{"certificate", call{cert: &e.certA}, 200},
		{"certificate and its token", call{cert: &e.certA, auth: bearer(tokenA)}, 200},
		{"certificate of no ente, with a token", call{cert: &e.certX, auth: bearer(tokenB)}, 200},
	}
	for _, c := range cases {
		c.c.method, c.c.path = "GET", "/api/v1/messaggi"
		resp, data := e.do(t, c.c)
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, data, c.status)
		}
		if c.status == 401 && (resp.Header.Get("WWW-Authenticate") == "" || decode[map[string]any](t, data)["codice"] != api.CodeUnauthenticated) {
			t.Errorf("%s: %v %s", c.name, resp.Header, data)
		}
	}
}

// TestFailedAuthenticationBound blocks an address after repeated failures, valid
// credentials included, until the window passes.
func TestFailedAuthenticationBound(t *testing.T) {
	e := newEnv(t, func(c *api.Config) { c.AuthFailures = 3 })
	for i := 0; i < 3; i++ {
		if resp, _ := e.do(t, call{method: "GET", path: "/api/v1/messaggi", auth: bearer("tentativo-sbagliato-0123456789")}); resp.StatusCode != 401 {
			t.Fatalf("failure %d: %d", i, resp.StatusCode)
		}
	}
	resp, data := e.do(t, call{method: "GET", path: "/api/v1/messaggi", auth: bearer(tokenA)})
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || decode[map[string]any](t, data)["codice"] != api.CodeTooMany {
		t.Fatalf("after 3 failures: %d %s", resp.StatusCode, data)
	}
}

// TestMalformedRequests gets a clear 4xx for each broken request.
func TestMalformedRequests(t *testing.T) {
	e := newEnv(t, nil)
	big := bytes.Repeat([]byte("<a/>"), (1<<20)/4+1)
	cases := []struct {
		name   string
		c      call
		status int
		code   string
	}{
		{"no content type", call{path: "/api/v1/fatture-attive?nome_file=IT01234567890_00001.xml", body: []byte("<a/>")}, 415, api.CodeMediaType},
		{"text/plain", call{path: "/api/v1/fatture-attive?nome_file=IT01234567890_00001.xml", ct: "text/plain", body: []byte("<a/>")}, 415, api.CodeMediaType},
		{"broken content type", call{path: "/api/v1/fatture-attive", ct: "application/xml; ;;", body: []byte("<a/>")}, 415, api.CodeMediaType},
		{"raw without nome_file", call{path: "/api/v1/fatture-attive", ct: "application/xml", body: []byte("<a/>")}, 400, api.CodeBadRequest},
		{"unknown parameter", call{path: "/api/v1/fatture-attive?nome_file=IT01234567890_00001.xml&firma=1", ct: "application/xml", body: []byte("<a/>")}, 400, api.CodeBadRequest},
		{"oversize raw", call{path: "/api/v1/fatture-attive?nome_file=IT01234567890_00001.xml", ct: "application/xml", body: big}, 413, api.CodeTooLarge},
		{"oversize json", call{path: "/api/v1/fatture-attive", ct: "application/json",
			body: []byte(`{"nome_file":"IT01234567890_00001.xml","file":"` + base64.StdEncoding.EncodeToString(big) + `"}`)}, 413, api.CodeTooLarge},
		{"json not base64", call{path: "/api/v1/fatture-attive", ct: "application/json", body: []byte(`{"nome_file":"IT01234567890_00001.xml","file":"%%%"}`)}, 400, api.CodeBadRequest},
		{"json unknown field", call{path: "/api/v1/fatture-attive", ct: "application/json", body: []byte(`{"nome":"x","file":""}`)}, 400, api.CodeBadRequest},
		{"json broken", call{path: "/api/v1/fatture-attive", ct: "application/json", body: []byte(`{"nome_file":`)}, 400, api.CodeBadRequest},
		{"json wrong type", call{path: "/api/v1/fatture-attive", ct: "application/json", body: []byte(`{"nome_file":5,"file":""}`)}, 400, api.CodeBadRequest},
		{"multipart without boundary", call{path: "/api/v1/fatture-attive", ct: "multipart/form-data", body: []byte("x")}, 400, api.CodeBadRequest},
		{"multipart broken", call{path: "/api/v1/fatture-attive", ct: "multipart/form-data; boundary=zz", body: []byte("--zz\r\nContent-Disp")}, 400, api.CodeBadRequest},
		{"multipart without file", call{path: "/api/v1/fatture-attive", ct: "multipart/form-data; boundary=zz",
			body: []byte("--zz\r\nContent-Disposition: form-data; name=\"nome_file\"\r\n\r\nx.xml\r\n--zz--\r\n")}, 400, api.CodeBadRequest},
		{"unknown path", call{path: "/api/v1/fatture"}, 404, api.CodeNotFound},
	}
	for _, c := range cases {
		c.c.method, c.c.auth = "POST", bearer(tokenA)
		resp, data := e.do(t, c.c)
		if resp.StatusCode != c.status || decode[map[string]any](t, data)["codice"] != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, resp.StatusCode, clipBytes(data), c.status, c.code)
		}
		if !strings.Contains(decode[map[string]any](t, data)["messaggio"].(string), "(") {
			t.Errorf("%s: the message has no English part: %s", c.name, data)
		}
	}
	if n := len(e.active.via); n != 0 {
		t.Fatalf("%d malformed requests reached the flow", n)
	}
}

func clipBytes(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// TestOpenAPIDocument serves the document and checks it describes what is mounted.
func TestOpenAPIDocument(t *testing.T) {
	e := newEnv(t, nil)
	resp, data := e.do(t, call{method: "GET", path: "/openapi.json"})
	if resp.StatusCode != 200 || !bytes.Equal(data, api.OpenAPI) {
		t.Fatalf("/openapi.json: %d", resp.StatusCode)
	}
	ops := e.doc.Operations()
	if len(ops) != 8 {
		t.Fatalf("%d operations documented, want 8", len(ops))
	}
	for _, op := range ops {
		if op.ID == "" {
			t.Errorf("%s %s has no operationId", op.Method, op.Path)
		}
		// Every documented path answers something other than the catch-all 404.
		path := strings.NewReplacer("{id}", string(message.NewID()), "{nome}", "x.xml", "{identificativo_sdi}", "1",
			"{ricevuta}", "IntermediaMarche_00000000000000000000000000000000_2026-01-01T00:00:00").Replace(op.Path)
		resp, data := e.do(t, call{method: op.Method, path: path, auth: bearer(tokenA), ct: "application/json", body: []byte("{}")})
		if m := decode[map[string]any](t, data); resp.StatusCode == 404 && strings.Contains(fmt.Sprint(m["messaggio"]), "risorsa o metodo") {
			t.Errorf("%s %s is documented but not mounted", op.Method, op.Path)
		}
	}
}
