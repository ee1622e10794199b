package api_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"net/http"
	"strings"
	"testing"

	"snodo/pkg/api"
	"snodo/pkg/soap"
	snodowsdl "snodo/wsdl/snodo"
	"snodo/wsdl/snodo/contracttest"
)

// fileCA is the RiceviFileCA request as an ente writes it.
type fileCA struct {
	XMLName           xml.Name    `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/attiva/services/types RiceviFileCAElement"`
	IdFiscaleMittente string      `xml:"IdFiscaleMittente"`
	CodiceUfficio     string      `xml:"CodiceUfficio"`
	NomeFile          string      `xml:"NomeFile"`
	File              soap.Binary `xml:"File"`
}

type fileCAAnswer struct {
	DataOraRicezione      string `xml:"DataOraRicezione"`
	Codice                string `xml:"Codice"`
	Descrizione           string `xml:"Descrizione"`
	RicevutaComunicazione string `xml:"RicevutaComunicazione"`
}

type esitoReq struct {
	XMLName xml.Name `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/esitocommittente/services/types esitoFatturaMessageRequest"`
	Msg     struct {
		IdFiscaleCommittente string       `xml:"idFiscaleCommittente"`
		CodUfficio           string       `xml:"codUfficio"`
		NomeFile             string       `xml:"nomeFile"`
		File                 *soap.Binary `xml:"File"`
	} `xml:"esitoFatturaMessage"`
}

type esitoAnswer struct {
	Code        string `xml:"code"`
	Description string `xml:"description"`
}

// soapCall posts a SOAP request and returns the raw answer.
func (e *env) soapCall(t *testing.T, path, action, auth string, v soap.Version, payload any, mtom bool) (*http.Response, []byte) {
	t.Helper()
	ct, body, err := soap.Marshal(v, payload, mtom)
	if err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{}
	if action != "" {
		hdr["SOAPAction"] = `"` + action + `"`
	}
	return e.do(t, call{method: "POST", path: path, auth: auth, ct: ct, body: body, header: hdr})
}

// dettaglioOf reads the snodo:Dettaglio header of an answer.
func dettaglioOf(t *testing.T, p contracttest.Parts) (id, msg string, codes []string) {
	t.Helper()
	if len(p.Headers) != 1 {
		t.Fatalf("%d header blocks, want the snodo:Dettaglio", len(p.Headers))
	}
	var d struct {
		IdMessaggio string `xml:"IdMessaggio"`
		Messaggio   string `xml:"Messaggio"`
		Errore      []struct {
			Codice string `xml:"Codice"`
		} `xml:"Errore"`
	}
	if err := xml.Unmarshal(p.Headers[0], &d); err != nil {
		t.Fatal(err)
	}
	for _, e := range d.Errore {
		codes = append(codes, e.Codice)
	}
	return d.IdMessaggio, d.Messaggio, codes
}

func TestRiceviFileCA(t *testing.T) {
	e := newEnv(t, nil)
	inv := fixture(t, "IT01234567890_FPA01.xml")
	req := func(office, name string, file []byte) *fileCA {
		return &fileCA{IdFiscaleMittente: "IT80008630420", CodiceUfficio: office, NomeFile: name, File: file}
	}
	ok := func(t *testing.T, path, auth string, r *fileCA, mtom bool) (fileCAAnswer, contracttest.Parts) {
		t.Helper()
		resp, data := e.soapCall(t, path, snodowsdl.ActionRiceviFileCA, auth, soap.V11, r, mtom)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, data)
		}
		p := contracttest.MustValidEnvelope(t, "risposta RiceviFileCA", data)
		var a fileCAAnswer
		if err := xml.Unmarshal(p.Body, &a); err != nil {
			t.Fatal(err)
		}
		return a, p
	}

	// IntermediaMarche's path, Basic, inline base64: the request itself follows the contract.
	_, reqBody, _ := soap.Marshal(soap.V11, req("UFA000", "IT01234567890_FPA01.xml", inv), false)
	contracttest.MustValidEnvelope(t, "richiesta", reqBody)
	a, p := ok(t, api.PathIMFatturaAttiva, basic(userA, passA), req("UFA000", "IT01234567890_FPA01.xml", inv), false)
	id, _, _ := dettaglioOf(t, p)
	if a.Codice != "FA00" || a.Descrizione != "RICEZIONE AVVENUTA CON SUCCESSO" || id == "" {
		t.Fatalf("FA00: %+v id %q", a, id)
	}
	if want, _ := snodowsdl.RicevutaFromMessageID(id); a.RicevutaComunicazione != want {
		t.Fatalf("ricevuta %q for message %s", a.RicevutaComunicazione, id)
	}
	if e.active.via[0] != api.ViaSOAP {
		t.Errorf("via %q", e.active.via[0])
	}
	// snodo's path, MTOM, token, second office of the same ente: the same file again.
	a2, _ := ok(t, api.PathFatturaAttiva, bearer(tokenA), req("UFA001", "IT01234567890_FPA01.xml", inv), true)
	if a2.Codice != "FA00" || a2.RicevutaComunicazione != a.RicevutaComunicazione {
		t.Fatalf("resubmission over MTOM: %+v", a2)
	}
	// Refused by the flow: FA02, the SdI codes in the header.
	bad := append(append([]byte{}, inv...), []byte("<!--ERRORE-->")...)
	a3, p3 := ok(t, api.PathFatturaAttiva, basic(userA, passA), req("UFA000", "IT01234567890_00002.xml", bad), false)
	if _, _, codes := dettaglioOf(t, p3); a3.Codice != "FA02" || len(codes) != 1 || codes[0] != "00200" {
		t.Fatalf("FA02: %+v %v", a3, codes)
	}

	refusals := []struct {
		name string
		auth string
		r    *fileCA
		code string
	}{
		{"no office", basic(userA, passA), req("", "IT01234567890_00003.xml", inv), "FA06"},
		{"no name", basic(userA, passA), req("UFA000", "", inv), "FA06"},
		{"bad name", basic(userA, passA), req("UFA000", "fattura.pdf", inv), "FA04"},
		{"no file", basic(userA, passA), req("UFA000", "IT01234567890_00003.xml", nil), "FA05"},
		{"unknown office", basic(userA, passA), req("ZZZ999", "IT01234567890_00003.xml", inv), "FA03"},
		{"disabled ente", bearer(tokenC), req("UFC000", "IT01234567890_00003.xml", inv), "FA03"},
		{"no credentials", "", req("UFA000", "IT01234567890_00003.xml", inv), "FA01"},
		{"wrong password", basic(userA, "x"), req("UFA000", "IT01234567890_00003.xml", inv), "FA01"},
		{"another ente's office", bearer(tokenB), req("UFA000", "IT01234567890_00003.xml", inv), "FA01"},
	}
	for _, c := range refusals {
		resp, data := e.soapCall(t, api.PathFatturaAttiva, snodowsdl.ActionRiceviFileCA, c.auth, soap.V11, c.r, false)
		m, err := soap.Parse("answer", resp.Header.Get("Content-Type"), data)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v %s", c.name, resp.StatusCode, err, data)
		}
		var got fileCAAnswer
		if err := m.Decode(&got); err != nil || got.Codice != c.code || !strings.HasPrefix(got.RicevutaComunicazione, "IntermediaMarche_") {
			t.Errorf("%s: %+v, want %s", c.name, got, c.code)
		}
		// Answers follow the contract even for a request that does not.
		contracttest.MustValidEnvelope(t, c.name, data)
	}
	if n := len(e.active.via); n != 3 {
		t.Fatalf("%d submissions reached the flow, want 3", n)
	}

	// The flow fails: fault FA99 with the contract's FaultDetail, soap:Server.
	e.active.fail = errors.New("disk full")
	resp, data := e.soapCall(t, api.PathFatturaAttiva, snodowsdl.ActionRiceviFileCA, bearer(tokenA), soap.V11, req("UFA000", "IT01234567890_00004.xml", inv), false)
	e.active.fail = nil
	m, err := soap.Parse("fault", resp.Header.Get("Content-Type"), data)
	if err != nil || resp.StatusCode != 500 || m.Fault == nil || m.Fault.Code != soap.CodeServer || strings.Contains(string(data), "disk") {
		t.Fatalf("FA99: %d %v %s", resp.StatusCode, err, data)
	}
	det, err := contracttest.FaultDetail(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := contracttest.Validate("FaultDetail", det); err != nil || !bytes.Contains(det, []byte("<Codice>FA99</Codice>")) {
		t.Fatalf("fault detail %s: %v", det, err)
	}

	// SOAP 1.2 is answered in kind.
	resp, data = e.soapCall(t, api.PathFatturaAttiva, "", bearer(tokenA), soap.V12, req("UFA000", "IT01234567890_FPA01.xml", inv), false)
	if m, err := soap.Parse("1.2", resp.Header.Get("Content-Type"), data); err != nil || m.Version != soap.V12 || resp.StatusCode != 200 {
		t.Fatalf("SOAP 1.2: %d %v %s", resp.StatusCode, err, data)
	}
}

func TestRiceviEsitoFattura(t *testing.T) {
	e := newEnv(t, nil)
	e.receive(t, "comune-a", "111", "IT01234567890_11111.xml.p7m")
	ec := fixture(t, "IT01234567890_11111_EC_001.xml")
	req := func(office, name string, file []byte) *esitoReq {
		r := &esitoReq{}
		r.Msg.IdFiscaleCommittente, r.Msg.CodUfficio, r.Msg.NomeFile = "80008630420", office, name
		if file != nil {
			b := soap.Binary(file)
			r.Msg.File = &b
		}
		return r
	}
	send := func(t *testing.T, auth string, r *esitoReq) (*http.Response, []byte) {
		return e.soapCall(t, api.PathIMEsitoCommittente, snodowsdl.ActionRiceviEsitoFattura, auth, soap.V11, r, false)
	}
	code := func(t *testing.T, data []byte) string {
		p := contracttest.MustValidEnvelope(t, "risposta riceviEsitoFattura", data)
		var a esitoAnswer
		if err := xml.Unmarshal(p.Body, &a); err != nil {
			t.Fatal(err)
		}
		return a.Code
	}
	_, reqBody, _ := soap.Marshal(soap.V11, req("UFA000", "IT01234567890_11111_EC_001.xml", ec), false)
	contracttest.MustValidEnvelope(t, "richiesta", reqBody)

	cases := []struct {
		name string
		auth string
		r    *esitoReq
		want string
	}{
		{"missing office", basic(userA, passA), req("", "IT01234567890_11111_EC_001.xml", ec), "EN04"},
		{"missing File", basic(userA, passA), req("UFA000", "IT01234567890_11111_EC_001.xml", nil), "EN04"},
		{"bad name", basic(userA, passA), req("UFA000", "IT01234567890_11111_RC_001.xml", ec), "EN05"},
		{"empty File", basic(userA, passA), req("UFA000", "IT01234567890_11111_EC_001.xml", []byte{}), "EN07"},
		{"unknown office", basic(userA, passA), req("ZZZ999", "IT01234567890_11111_EC_001.xml", ec), "EN06"},
		{"bad credentials", basic(userA, "no"), req("UFA000", "IT01234567890_11111_EC_001.xml", ec), "EN01"},
		{"another ente", bearer(tokenB), req("UFA000", "IT01234567890_11111_EC_001.xml", ec), "EN01"},
		{"not an EC", basic(userA, passA), req("UFA000", "IT01234567890_11111_EC_001.xml", fixture(t, "IT01234567890_11111_DT_001.xml")), "EN08"},
		{"unknown invoice", basic(userA, passA), req("UFA000", "IT01234567890_11111_EC_001.xml",
			bytes.Replace(ec, []byte(">111<"), []byte(">999<"), 1)), "EN02"},
		{"accepted", basic(userA, passA), req("UFA000", "IT01234567890_11111_EC_001.xml", ec), "EN00"},
	}
	for _, c := range cases {
		resp, data := send(t, c.auth, c.r)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", c.name, resp.StatusCode, data)
		}
		if got := code(t, data); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	if n := len(e.passive.outcomes); n != 1 || e.passive.outcomes[0].Via != api.ViaSOAP {
		t.Fatalf("outcomes handed to the flow: %+v", e.passive.outcomes)
	}
	// Already decided: fault EN99, soap:Client (do not repeat).
	resp, data := send(t, basic(userA, passA), req("UFA000", "IT01234567890_11111_EC_002.xml", ec))
	m, err := soap.Parse("fault", resp.Header.Get("Content-Type"), data)
	if err != nil || m.Fault == nil || m.Fault.Code != soap.CodeClient || !strings.Contains(m.Fault.Detail, "EN99") {
		t.Fatalf("second outcome: %d %v %s", resp.StatusCode, err, data)
	}
	det, err := contracttest.FaultDetail(data)
	if err != nil || contracttest.Validate("FaultDetail", det) != nil {
		t.Fatalf("fault detail %s: %v", det, err)
	}
}

// TestMalformedSOAP: every broken request gets a SOAP fault naming the problem.
func TestMalformedSOAP(t *testing.T) {
	e := newEnv(t, nil)
	env := func(body string) []byte {
		return []byte(`<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>` + body + `</soap:Body></soap:Envelope>`)
	}
	good := `<t:RiceviFileCAElement xmlns:t="` + snodowsdl.NSFatturaAttiva + `"><IdFiscaleMittente>x</IdFiscaleMittente></t:RiceviFileCAElement>`
	cases := []struct {
		name, ct, action string
		body             []byte
		status           int
		mention          string
	}{
		{"not XML", "text/xml", "", []byte("ciao"), 500, "XML"},
		{"DOCTYPE", "text/xml", "", []byte(`<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + string(env(good))), 500, "DOCTYPE"},
		{"not SOAP", "text/xml", "", []byte("<a/>"), 500, "Envelope"},
		{"empty body", "text/xml", "", env(""), 500, "vuoto"},
		{"other operation", "text/xml", "", env(`<x:RiceviFatture xmlns:x="urn:x"/>`), 500, "RiceviFileCAElement"},
		{"other action", "text/xml", "riceviEsitoFattura", env(good), 500, "SOAPAction"},
		{"JSON", "application/json", "", []byte(`{"a":1}`), 500, "Content-Type"},
		{"broken base64", "text/xml", "", env(`<t:RiceviFileCAElement xmlns:t="` + snodowsdl.NSFatturaAttiva + `"><File>%%%</File></t:RiceviFileCAElement>`), 500, "base64"},
		{"oversize", "text/xml", "", env(`<t:RiceviFileCAElement xmlns:t="` + snodowsdl.NSFatturaAttiva + `"><File>` + strings.Repeat("QUFB", 1<<19) + `</File></t:RiceviFileCAElement>`), 413, "limite"},
	}
	for _, c := range cases {
		hdr := map[string]string{}
		if c.action != "" {
			hdr["SOAPAction"] = c.action
		}
		resp, data := e.do(t, call{method: "POST", path: api.PathFatturaAttiva, auth: bearer(tokenA), ct: c.ct, body: c.body, header: hdr})
		m, err := soap.Parse("fault", resp.Header.Get("Content-Type"), data)
		if err != nil || m.Fault == nil || resp.StatusCode != c.status || m.Fault.Code != soap.CodeClient || !strings.Contains(m.Fault.String, c.mention) {
			t.Errorf("%s: %d %v %s", c.name, resp.StatusCode, err, clipBytes(data))
		}
	}
	if len(e.active.via) != 0 {
		t.Fatal("a malformed request reached the flow")
	}
	// Methods and documents.
	if resp, _ := e.do(t, call{method: "PUT", path: api.PathFatturaAttiva}); resp.StatusCode != 405 {
		t.Errorf("PUT: %d", resp.StatusCode)
	}
	resp, data := e.do(t, call{method: "GET", path: api.PathIMFatturaAttiva + "?wsdl"})
	if resp.StatusCode != 200 || !bytes.Contains(data, []byte(`location="`+e.srv.URL+api.PathIMFatturaAttiva+`"`)) ||
		!bytes.Contains(data, []byte(`schemaLocation="?xsd=HubFatturaAttiva.xsd"`)) {
		t.Fatalf("?wsdl: %d %s", resp.StatusCode, data)
	}
	if resp, data := e.do(t, call{method: "GET", path: api.PathIMFatturaAttiva + "?xsd=HubFatturaAttiva.xsd"}); resp.StatusCode != 200 || !bytes.Contains(data, []byte("RiceviFileCAElement")) {
		t.Fatalf("?xsd: %d", resp.StatusCode)
	}
	for _, p := range []string{api.PathIMFatturaAttiva + "?xsd=../../../etc/passwd", api.PathIMFatturaAttiva + "?xsd=HubEsitoCommittente.xsd", "/wsdl/snodo/nope.xsd"} {
		if resp, _ := e.do(t, call{method: "GET", path: p}); resp.StatusCode != 404 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	for _, n := range snodowsdl.WSDLs {
		if resp, _ := e.do(t, call{method: "GET", path: "/wsdl/snodo/" + n}); resp.StatusCode != 200 {
			t.Errorf("%s: %d", n, resp.StatusCode)
		}
	}
}
