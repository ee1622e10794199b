package passive_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"snodo/pkg/flow/passive"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sim"
)

const apiToken = "token-di-prova-comune-a-0123456789"

// apiClient calls the hub's API for enti over HTTPS with the ente's token.
type apiClient struct {
	t    *testing.T
	base string
	http *http.Client
}

func (c apiClient) do(method, path, ctype string, body []byte) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	req.Header.Set("Content-Type", ctype)
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		c.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

func (c apiClient) upload(name string, data []byte) (int, map[string]any) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.WriteField("nome_file", name)
	f, _ := w.CreateFormFile("file", name)
	f.Write(data)
	w.Close()
	return c.do(http.MethodPost, "/api/v1/esiti-committente", w.FormDataContentType(), b.Bytes())
}

// The API for enti takes accept/reject calls and EC files for the passive cycle, over
// real HTTPS, answering synchronously with the IntermediaMarche codes.
func TestAPIForEnti(t *testing.T) {
	s := newSite(t, "fs")
	route := s.route("a", "UFA000", "") + "auth: {tokens: [\"" + apiToken + "\"]}\n"
	e := newEnv(t, envOptions{api: true, routes: map[string]string{"a": route, "b": s.route("b", "UFB000", "")}})
	c := apiClient{t: t, base: "https://" + e.hubAddr, http: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.pki.ca.Pool()}}}}

	id := e.deliver("IT01234567890_Q0001.xml", invoiceFor("UFA000", "Q1"), "UFA000")
	e.waitState(id, passive.ConsegnataContabilita)
	status, ans := c.do(http.MethodPost, "/api/v1/fatture-passive/"+string(id)+"/esito", "application/json",
		[]byte(`{"esito": "EC01", "numero_fattura": "Q1", "anno_fattura": 2017, "descrizione": "ok"}`))
	if status != http.StatusAccepted || ans["codice"] != "EN00" {
		t.Fatalf("accept: %d %v", status, ans)
	}
	ev := e.simEvent("EC at the SdI", func(ev sim.Event) bool { return ev.Azione == "NotificaEsito" && ev.IdentificativoSdI == id })
	if ev.Dettaglio != "ES01 EC01" {
		t.Fatalf("the SdI answered %s", ev.Dettaglio)
	}
	e.waitState(id, passive.EsitoAccettato)
	if status, ans = c.do(http.MethodPost, "/api/v1/fatture-passive/"+string(id)+"/esito", "application/json", []byte(`{"esito": "EC02"}`)); ans["codice"] != "EN99" {
		t.Fatalf("second outcome: %d %v", status, ans)
	}

	// Another ente's invoice is not found.
	other := e.deliver("IT01234567890_Q0002.xml", invoiceFor("UFB000", "Q2"), "UFB000")
	e.waitState(other, passive.ConsegnataContabilita)
	if status, ans = c.do(http.MethodPost, "/api/v1/fatture-passive/"+string(other)+"/esito", "application/json", []byte(`{"esito": "EC01"}`)); status != http.StatusNotFound {
		t.Fatalf("another ente's invoice: %d %v", status, ans)
	}

	// An EC file written by the ente: taken, sent, kept byte for byte; the same file again is a duplicate.
	id3 := e.deliver("IT01234567890_Q0003.xml", invoiceFor("UFA000", "Q3"), "UFA000")
	e.waitState(id3, passive.ConsegnataContabilita)
	ec := ecFile(t, id3, sdi.EC02, "Q3", 2017)
	if status, ans = c.upload("IT01234567890_Q0003_EC_001.xml", ec); status != http.StatusAccepted || ans["codice"] != "EN00" {
		t.Fatalf("EC file: %d %v", status, ans)
	}
	ev = e.simEvent("EC file at the SdI", func(ev sim.Event) bool { return ev.Azione == "NotificaEsito" && ev.IdentificativoSdI == id3 })
	if ev.Dettaglio != "ES01 EC02" || !bytes.Equal(ev.File, ec) {
		t.Fatalf("the SdI got %s (same bytes: %v)", ev.Dettaglio, bytes.Equal(ev.File, ec))
	}
	e.waitState(id3, passive.EsitoAccettato)
	if status, ans = c.upload("IT01234567890_Q0003_EC_001.xml", ec); ans["duplicato"] != true {
		t.Fatalf("the same EC file again: %d %v", status, ans)
	}

	// A malformed EC (an Esito the schema does not know) is refused with what is wrong.
	id4 := e.deliver("IT01234567890_Q0004.xml", invoiceFor("UFA000", "Q4"), "UFA000")
	e.waitState(id4, passive.ConsegnataContabilita)
	bad := []byte(strings.Replace(string(ecFile(t, id4, sdi.EC01, "Q4", 2017)), "EC01", "EC07", 1))
	status, ans = c.upload("IT01234567890_Q0004_EC_001.xml", bad)
	if ans["codice"] != "EN08" || !strings.Contains(toJSON(ans["errori"]), passive.RefusalMalformed) {
		t.Fatalf("malformed EC: %d %v", status, ans)
	}
	if inv := e.invoice(id4); inv.State != passive.ConsegnataContabilita {
		t.Fatalf("state %s after a refused EC", inv.State)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
