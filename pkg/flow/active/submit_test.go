package active_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"snodo/pkg/api"
	"snodo/pkg/flow/active"
	"snodo/pkg/message"
	"snodo/pkg/sdi/sim"
	"snodo/pkg/signature"
)

// TestNaming: a name that breaks the SdI rules is replaced by IT<IdCodice>_<progressivo>
// from the store's counter; a compliant name is kept, and claims its progressive so the
// hub's own names skip it; the file keeps both names.
func TestNaming(t *testing.T) {
	e := newEnv(t, envOptions{routes: map[string]string{
		"a": enteRoute("a", pivaA, "UFA000", ""),
		"b": enteRoute("b", pivaB, "UFB000", "  id_codice: \"01234567897\"\n"),
	}})
	step := func(ente, name string, data []byte) *message.Message {
		t.Helper()
		e.submit(ente, name, data)
		return e.waitSubmission(ente, name, active.Accettata)
	}
	cases := []struct {
		ente, name, want string
	}{
		{"a", "fattura numero uno.xml", "IT" + pivaA + "_00001.xml"},
		{"a", "IT" + pivaA + "_00002.xml", "IT" + pivaA + "_00002.xml"}, // the ente's own name
		{"a", "tre.XML", "IT" + pivaA + "_00003.xml"},                   // 00002 is taken: skipped
		{"a", "IT" + pivaA + "_abc.xml", "IT" + pivaA + "_abc.xml"},
		{"a", "IT" + pivaA + "-bad-00004.xml", "IT" + pivaA + "_00004.xml"},
		{"b", "fattura.xml", "IT01234567897_00001.xml"}, // active.id_codice
	}
	for i, c := range cases {
		piva := pivaA
		if c.ente == "b" {
			piva = pivaB
		}
		m := step(c.ente, c.name, invoice(piva, "AAAAAA", fmt.Sprintf("N%d", i)))
		if got := m.Header(active.HeaderNomeFile); got != c.want {
			t.Errorf("%s: name at the SdI %q, want %q", c.name, got, c.want)
		}
		if m.Header(message.HeaderNomeFileOriginale) != c.name || m.FileName != c.name {
			t.Errorf("%s: original name lost: %q %q", c.name, m.Header(message.HeaderNomeFileOriginale), m.FileName)
		}
		files, _ := e.store().Files(context.Background(), m.ID)
		var names []string
		for _, f := range files {
			names = append(names, f.Name+"("+f.Role+")")
		}
		if c.want != c.name && !strings.Contains(strings.Join(names, " "), c.want+"(sdi)") {
			t.Errorf("%s: files %v lack the file as sent", c.name, names)
		}
	}
	// A CAdES file the ente signed, named .xml: the compliant base is kept with .xml.p7m.
	s, err := signature.LoadSigner(e.pki.signCert, e.pki.signKey)
	if err != nil {
		t.Fatal(err)
	}
	p7m, err := s.SignCAdES(invoice(pivaA, "AAAAAA", "N9"))
	if err != nil {
		t.Fatal(err)
	}
	m := step("a", "IT"+pivaA+"_0000P.xml", p7m)
	if m.Header(active.HeaderNomeFile) != "IT"+pivaA+"_0000P.xml.p7m" || m.Header(active.HeaderFirma) != active.FirmaEnte || m.Header(active.HeaderBusta) != "cades" {
		t.Errorf("ente's CAdES: name %q firma %q busta %q", m.Header(active.HeaderNomeFile), m.Header(active.HeaderFirma), m.Header(active.HeaderBusta))
	}
}

// TestSigning: the hub signs with the ente's certificate, CAdES (.xml.p7m) or XAdES,
// and the SdI verifies what it receives.
func TestSigning(t *testing.T) {
	sign := func(format string) string {
		return fmt.Sprintf("  sign: {format: %s, cert: {{SIGNCERT}}, key: {{SIGNKEY}}}\n", format)
	}
	e := newEnv(t, envOptions{routes: map[string]string{
		"c": enteRoute("c", pivaA, "UFC000", sign("cades")),
		"x": enteRoute("x", pivaB, "UFX000", sign("xades")),
	}})
	orig := invoice(pivaA, "AAAAAA", "F1")
	e.submit("c", "IT"+pivaA+"_000F1.xml", orig)
	e.submit("x", "IT"+pivaB+"_000F2.xml", invoice(pivaB, "AAAAAA", "F2"))
	v := &signature.Verifier{IntegrityOnly: true}
	for _, c := range []struct {
		ente, name, nome, firma string
		format                  signature.Format
	}{
		{"c", "IT" + pivaA + "_000F1.xml", "IT" + pivaA + "_000F1.xml.p7m", active.FirmaHubCAdES, signature.FormatCAdES},
		// XAdES keeps .xml, so the signed file gets the hub's name beside the ente's.
		{"x", "IT" + pivaB + "_000F2.xml", "IT" + pivaB + "_00001.xml", active.FirmaHubXAdES, signature.FormatXAdES},
	} {
		m := e.waitSubmission(c.ente, c.name, active.Accettata)
		if m.Header(active.HeaderNomeFile) != c.nome || m.Header(active.HeaderFirma) != c.firma {
			t.Errorf("%s: NomeFile %q Firma %q", c.name, m.Header(active.HeaderNomeFile), m.Header(active.HeaderFirma))
		}
		sent, err := e.store().ReadFile(context.Background(), m.ID, c.nome)
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.Verify(c.nome, sent)
		if err != nil {
			t.Fatalf("%s: signature of the file sent: %v", c.nome, err)
		}
		if res.Format != c.format || res.Signer == nil || res.Signer.Subject.CommonName != "COMUNE DI PROVA" {
			t.Errorf("%s: format %v signer %v", c.nome, res.Format, res.Signer)
		}
		if c.ente == "c" && !bytes.Equal(res.Content, orig) {
			t.Errorf("CAdES content differs from the submitted invoice")
		}
		if e.received(c.nome) != 1 {
			t.Errorf("%s received %d times", c.nome, e.received(c.nome))
		}
	}
	// An invoice the ente signed already is sent as it is.
	s, _ := signature.LoadSigner(e.pki.signCert, e.pki.signKey)
	signed, err := s.SignXAdES(invoice(pivaA, "AAAAAA", "F3"))
	if err != nil {
		t.Fatal(err)
	}
	e.submit("c", "firmata.xml", signed)
	m := e.waitSubmission("c", "firmata.xml", active.Accettata)
	if m.Header(active.HeaderFirma) != active.FirmaEnte || !strings.Contains(e.timeline(m.ID), "già firmato") {
		t.Errorf("signed by the ente: Firma %q\n%s", m.Header(active.HeaderFirma), e.timeline(m.ID))
	}
	// A file the SdI would reject is not signed: it is refused.
	e.submit("c", "rotta.xml", []byte("<FatturaElettronica/>"))
	e.waitSubmission("c", "rotta.xml", active.RifiutataValidazione)
}

// TestAPISubmit: the API's entry point answers at once with the receipt: FA00 with the
// name at the SdI, FA02 with the codes, FA04/FA05 for what cannot be an invoice; a
// repeated request (same DedupKey) returns the first receipt.
func TestAPISubmit(t *testing.T) {
	e := newEnv(t, envOptions{routes: map[string]string{"a": enteRoute("a", pivaA, "UFA000", "")}})
	ctx := context.Background()
	mod := e.module()
	sub := active.Submission{Ente: "a", NomeFile: "api.xml", File: invoice(pivaA, "AAAAAA", "P1"), Source: "api/rest 127.0.0.1", DedupKey: "api:a:req-1"}
	r, err := mod.Submit(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	if r.Codice != active.FA00 || r.State != active.DaInviare || r.NomeFile != "IT"+pivaA+"_00001.xml" || r.Duplicate ||
		!strings.HasPrefix(r.RicevutaComunicazione, "IntermediaMarche_") {
		t.Fatalf("receipt %+v", r)
	}
	again, err := mod.Submit(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.MessageID != r.MessageID || again.RicevutaComunicazione != r.RicevutaComunicazione {
		t.Errorf("repeated request: %+v", again)
	}
	e.waitState(r.MessageID, active.Accettata)
	later, err := mod.Receipt(ctx, r.MessageID)
	if err != nil || later.Codice != active.FA00 || later.State != active.Accettata || later.NomeFile != r.NomeFile {
		t.Errorf("receipt later: %+v %v", later, err)
	}

	bad := bytes.Replace(invoice(pivaA, "AAAAAA", "P2"), []byte("<PrezzoTotale>100.00</PrezzoTotale>"), []byte("<PrezzoTotale>90.00</PrezzoTotale>"), 1)
	r, err = mod.Submit(ctx, active.Submission{Ente: "a", NomeFile: "api-bad.xml", File: bad})
	if err != nil {
		t.Fatal(err)
	}
	if r.Codice != active.FA02 || r.State != active.RifiutataValidazione || len(r.Errori) == 0 || r.Errori[0].Codice != "00423" || r.Errori[0].Riga == 0 {
		t.Errorf("refused: %+v", r)
	}
	for _, c := range []struct {
		name string
		data []byte
		code string
	}{
		{"../fuori.xml", invoice(pivaA, "AAAAAA", "P3"), active.FA04},
		{"vuota.xml", nil, active.FA05},
	} {
		r, err := mod.Submit(ctx, active.Submission{Ente: "a", NomeFile: c.name, File: c.data})
		if err != nil {
			t.Fatal(err)
		}
		if r.Codice != c.code || r.State != active.RifiutataValidazione {
			t.Errorf("%s: %+v", c.name, r)
		}
	}
	if _, err := mod.Submit(ctx, active.Submission{Ente: "nessuno", NomeFile: "x.xml", File: []byte("<x/>")}); err == nil {
		t.Error("unknown ente accepted")
	}
	// The API's answer is the receipt: no outcome file on the ente's channel.
	time.Sleep(200 * time.Millisecond)
	for _, f := range e.outFiles("a") {
		if strings.Contains(f, ".esito-") {
			t.Errorf("outcome file %s delivered for an API submission", f)
		}
	}
}

// TestRESTSubmit: the API for enti over HTTPS (REST) with the module behind it: 202 and
// FA00 with the receipt, 200 for the same file again (nothing sent twice), 422 and FA02
// with the SdI's codes for a file the SdI would reject.
func TestRESTSubmit(t *testing.T) {
	const token = "token-di-prova-ente-a-0123456789"
	route := enteRoute("a", pivaA, "UFA000", "") + "auth: {tokens: [\"" + token + "\"]}\n"
	e := newEnv(t, envOptions{routes: map[string]string{"a": route}, api: true})
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.pki.ca.Pool()}}}
	post := func(name string, data []byte) (int, api.InvoiceAnswer) {
		t.Helper()
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
	inv := invoice(pivaA, "AAAAAA", "W1")
	status, ans := post("rest.xml", inv)
	if status != http.StatusAccepted || ans.Codice != "FA00" || ans.ID == "" || ans.Duplicato || ans.Stato != string(active.DaInviare) {
		t.Fatalf("first: %d %+v", status, ans)
	}
	status, again := post("rest.xml", inv)
	if status != http.StatusOK || !again.Duplicato || again.ID != ans.ID || again.RicevutaComunicazione != ans.RicevutaComunicazione {
		t.Errorf("same file again: %d %+v", status, again)
	}
	status, dup := post("rest-copia.xml", inv)
	if status != http.StatusUnprocessableEntity || dup.Codice != "FA02" || len(dup.Errori) != 1 || dup.Errori[0].Code != "00404" {
		t.Errorf("same invoice under another name: %d %+v", status, dup)
	}
	m := e.waitState(message.ID(ans.ID), active.Accettata)
	if n := e.received(m.Header(active.HeaderNomeFile)); n != 1 {
		t.Errorf("received %d times", n)
	}
	if n := len(e.simEvents(func(ev sim.Event) bool { return ev.Azione == "RiceviFile" })); n != 1 {
		t.Errorf("the SdI got %d files", n)
	}
}
