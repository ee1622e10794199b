package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"snodo/pkg/api"
	"snodo/pkg/soap"
)

// handlerFor builds the API over a real store once per fuzz target.
func handlerFor(f *testing.F) http.Handler {
	e := newEnv(f, nil)
	a, err := api.New(api.Config{Store: e.st, Routes: e.routes, Active: e.active, Passive: e.passive, MaxInvoiceBytes: 64 << 10, AuthFailures: 1 << 30})
	if err != nil {
		f.Fatal(err)
	}
	return a.Handler()
}

// FuzzSOAP posts arbitrary bodies to both SOAP services: every answer must be a
// well-formed SOAP message (a response or a fault), never a panic.
func FuzzSOAP(f *testing.F) {
	h := handlerFor(f)
	f.Add(`text/xml`, []byte(`<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><t:RiceviFileCAElement xmlns:t="http://www.regione.marche.it/intermediamarche/fatturazione/attiva/services/types"><IdFiscaleMittente>IT1</IdFiscaleMittente><CodiceUfficio>UFA000</CodiceUfficio><NomeFile>IT01234567890_00001.xml</NomeFile><File>PGEvPg==</File></t:RiceviFileCAElement></soap:Body></soap:Envelope>`), true)
	f.Add(`text/xml`, []byte(`<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><t:esitoFatturaMessageRequest xmlns:t="http://www.regione.marche.it/intermediamarche/fatturazione/esitocommittente/services/types"><esitoFatturaMessage><idFiscaleCommittente>800</idFiscaleCommittente><codUfficio>UFA000</codUfficio><nomeFile>IT01234567890_11111_EC_001.xml</nomeFile><File>PGEvPg==</File></esitoFatturaMessage></t:esitoFatturaMessageRequest></soap:Body></soap:Envelope>`), false)
	f.Add(`multipart/related; boundary="b"; type="application/xop+xml"; start="<r>"`, []byte("--b\r\nContent-ID: <r>\r\n\r\n<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body/></soap:Envelope>\r\n--b--"), true)
	f.Add(`application/soap+xml`, []byte(`<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><x/></e:Body></e:Envelope>`), true)
	f.Fuzz(func(t *testing.T, ct string, body []byte, fattura bool) {
		path := api.PathFatturaAttiva
		if !fattura {
			path = api.PathEsitoCommittente
		}
		r := httptest.NewRequest("POST", path, bytes.NewReader(body))
		r.Header.Set("Content-Type", ct)
		r.Header.Set("Authorization", bearer(tokenA))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 && w.Code != 500 && w.Code != 413 && w.Code != 429 {
			t.Fatalf("HTTP %d", w.Code)
		}
		m, err := soap.Parse("answer", w.Header().Get("Content-Type"), w.Body.Bytes())
		if err != nil {
			t.Fatalf("the answer is not SOAP: %v\n%s", err, w.Body.Bytes())
		}
		if (w.Code == 200) == (m.Fault != nil) {
			t.Fatalf("HTTP %d with fault=%v", w.Code, m.Fault != nil)
		}
	})
}

// FuzzREST sends arbitrary submissions and credentials: every answer is JSON with a
// codice and a messaggio, never a panic or a 2xx for garbage credentials.
func FuzzREST(f *testing.F) {
	h := handlerFor(f)
	f.Add(0, "application/xml", "nome_file=IT01234567890_00001.xml", []byte("<a/>"), bearer(tokenA))
	f.Add(1, "application/json", "", []byte(`{"esito":"EC01"}`), bearer(tokenA))
	f.Add(2, "multipart/form-data; boundary=x", "", []byte("--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a_EC_001.xml\"\r\n\r\n<a/>\r\n--x--\r\n"), "Basic Y29tdW5lLWEtd3M6cGFzc3dvcmQtZGVsLWNvbXVuZS1h")
	f.Add(3, "", "limite=2&flusso=active", []byte{}, bearer(tokenA))
	f.Add(0, "application/json", "", []byte(`{"nome_file":"IT01234567890_00001.xml","file":"PGEvPg=="}`), "Bearer x")
	f.Fuzz(func(t *testing.T, which int, ct, query string, body []byte, auth string) {
		paths := []string{"/api/v1/fatture-attive", "/api/v1/fatture-passive/111/esito", "/api/v1/esiti-committente", "/api/v1/messaggi"}
		method := "POST"
		if which < 0 {
			which = -which
		}
		which %= len(paths)
		if which == 3 {
			method = "GET"
		}
		r := httptest.NewRequest(method, "/", bytes.NewReader(body))
		r.URL.Path, r.URL.RawQuery = paths[which], query
		r.Header.Set("Content-Type", ct)
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var ans map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil {
			t.Fatalf("HTTP %d, not JSON: %v\n%s", w.Code, err, w.Body.Bytes())
		}
		if which != 3 {
			if c, _ := ans["codice"].(string); c == "" || ans["messaggio"] == nil {
				t.Fatalf("HTTP %d without codice/messaggio: %s", w.Code, w.Body.Bytes())
			}
		}
		scheme, value, _ := strings.Cut(strings.TrimSpace(auth), " ")
		valid := strings.EqualFold(scheme, "bearer") && (strings.TrimSpace(value) == tokenA || strings.TrimSpace(value) == tokenB) || strings.EqualFold(scheme, "basic")
		if w.Code < 300 && !valid {
			t.Fatalf("HTTP %d with credentials %q", w.Code, auth)
		}
	})
}
