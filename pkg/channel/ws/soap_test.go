package ws_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/channel/ws"
	"snodo/pkg/message"
	"snodo/pkg/soap"
	"snodo/pkg/testpki"
	snodowsdl "snodo/wsdl/snodo"
	"snodo/wsdl/snodo/contracttest"
)

// answer writes a SOAP 1.1 response <p:Response> with Codice and Descrizione in ns, the
// way a JAX-WS ente system writes it.
func answer(w http.ResponseWriter, ns, code, desc string) {
	w.Header().Set("Content-Type", "text/xml; charset=UTF-8")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>`+
		`<ns2:Response xmlns:ns2="%s"><ns2:Codice>%s</ns2:Codice><ns2:Descrizione>%s</ns2:Descrizione></ns2:Response></soap:Body></soap:Envelope>`, ns, code, desc)
}

// fault writes a SOAP 1.1 fault with the contract's FaultDetail.
func fault(w http.ResponseWriter, ns, faultcode, code, desc string) {
	w.Header().Set("Content-Type", "text/xml; charset=UTF-8")
	w.WriteHeader(500)
	fmt.Fprintf(w, `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:%s</faultcode>`+
		`<faultstring>%s</faultstring><detail><ns2:FaultDetail xmlns:ns2="%s"><ns2:Codice>%s</ns2:Codice><ns2:Descrizione>%s</ns2:Descrizione>`+
		`</ns2:FaultDetail></detail></soap:Fault></soap:Body></soap:Envelope>`, faultcode, desc, ns, code, desc)
}

var dataPattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$`)

// TestRegistrazione delivers an invoice, a DT and an SE on the passive contract over
// HTTPS with Basic authentication, checking every request against the XSD of the
// contract and its content field by field.
func TestRegistrazione(t *testing.T) {
	var seen []string
	es := newEnteServer(t, serverOpts{}, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if got := r.Header.Get("Authorization"); got != "Basic "+base64.StdEncoding.EncodeToString([]byte("protocollo:s3greta")) {
			t.Errorf("Authorization %q", got)
		}
		p := contracttest.MustValidEnvelope(t, "richiesta", body)
		m, err := soap.Parse("richiesta", r.Header.Get("Content-Type"), body)
		if err != nil {
			t.Fatal(err)
		}
		action := strings.Trim(r.Header.Get("SOAPAction"), `"`)
		seen = append(seen, action+" "+m.Body.Space)
		switch m.Body.Space {
		case snodowsdl.NSRegistrazioneFattura:
			var req ws.FatturaRequest
			if err := m.Decode(&req); err != nil {
				t.Fatal(err)
			}
			rf := req.RegistraFattura
			if action != "RiceviFattura" || rf.IdentificativoSDI != "111" || rf.NumeroProtocollo != "2026/0042" || rf.DataProtocollo != "2026-01-31" ||
				rf.XML.NomeFile != "IT01234567890_11111.xml.p7m" || !bytes.Equal(rf.XML.Data, fixture(t, "IT01234567890_11111.xml.p7m")) {
				t.Errorf("RiceviFattura: action %q, %+v (%d bytes)", action, rf, len(rf.XML.Data))
			}
			if bytes.Contains(p.Body, []byte("MetadatiInvioFile")) {
				t.Error("the MT file travelled on RiceviFattura, which has no place for it")
			}
			answer(w, snodowsdl.NSRegistrazioneFattura, "EF00", "FATTURA PRESA IN CARICO")
		case snodowsdl.NSRegistrazioneNotifica:
			var req ws.NotificaRequest
			if err := m.Decode(&req); err != nil {
				t.Fatal(err)
			}
			rn := req.RegistraNotifica
			if action != "RiceviNotifica" || rn.IdentificativoSDI != "111" || !dataPattern.MatchString(rn.Esito.Data) {
				t.Errorf("RiceviNotifica: action %q, %+v", action, rn)
			}
			switch rn.XML.NomeFile {
			case "IT01234567890_11111_DT_001.xml":
				if rn.Esito.Codice != "DT" || rn.Esito.Note != "Esempio" {
					t.Errorf("DT: Esito %+v", rn.Esito)
				}
			case "IT01234567890_11111_SE_001.xml":
				if rn.Esito.Codice != "NS" {
					t.Errorf("SE travels as NS in this contract, got %+v", rn.Esito)
				}
			default:
				t.Errorf("file %q", rn.XML.NomeFile)
			}
			if !bytes.Equal(rn.XML.Data, fixture(t, rn.XML.NomeFile)) {
				t.Errorf("%s: content differs", rn.XML.NomeFile)
			}
			answer(w, snodowsdl.NSRegistrazioneNotifica, "EN00", "NOTIFICA PRESA IN CARICO")
		default:
			t.Errorf("unexpected body %v", m.Body)
		}
	})
	ep := es.endpoint(t, "/registrazione", &ws.Settings{Style: ws.StyleSOAP, Contract: ws.ContractRegistrazione}, func(ep *channel.Endpoint) {
		ep.Username, ep.Password = "protocollo", "s3greta"
	})
	s := newSender(t, ep)
	inv := invoiceDelivery(t)
	inv.Headers[message.HeaderNumeroProtocollo] = "2026/0042"
	inv.Headers[message.HeaderDataProtocollo] = "2026-01-31T10:11:12+01:00"
	res, err := s.Send(context.Background(), inv)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Detail, "EF00") {
		t.Errorf("detail %q does not name the result code", res.Detail)
	}
	for _, name := range []string{"IT01234567890_11111_DT_001.xml", "IT01234567890_11111_SE_001.xml"} {
		d := notificationDelivery(t, name, "passive.notifications")
		if name == "IT01234567890_11111_DT_001.xml" {
			d.Headers[message.HeaderIdentificativoSdI] = "111"
			d.Headers[message.HeaderTipoMessaggio] = "DT"
		}
		if _, err := s.Send(context.Background(), d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if len(seen) != 3 {
		t.Fatalf("the ente saw %d calls: %v", len(seen), seen)
	}
	// Messages the contract cannot carry are refused before any call.
	for _, name := range []string{"IT01234567890_11111_RC_001.xml", "IT01234567890_11111_EC_001.xml"} {
		_, err := s.Send(context.Background(), notificationDelivery(t, name, "passive.notifications"))
		if !channel.IsPermanent(err) || !strings.Contains(err.Error(), ws.ContractRegistrazione) {
			t.Errorf("%s: %v, want a permanent error naming the contract", name, err)
		}
	}
	noID := invoiceDelivery(t)
	delete(noID.Headers, message.HeaderIdentificativoSdI)
	if _, err := s.Send(context.Background(), noID); !channel.IsPermanent(err) || !strings.Contains(err.Error(), "IdentificativoSdI") {
		t.Errorf("invoice without IdentificativoSdI: %v", err)
	}
	if n := len(es.requests()); n != 3 {
		t.Fatalf("%d requests reached the ente, want 3", n)
	}
}

// TestNotificaAttiva delivers every active-cycle notification type with a bearer token
// and MTOM off, then an NE with EC02 as NZ, checking the receipt is stable across attempts.
func TestNotificaAttiva(t *testing.T) {
	type got struct{ codice, note, ricevuta, key string }
	var calls []got
	es := newEnteServer(t, serverOpts{}, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Header.Get("Authorization") != "Bearer token-dell-ente-0123456789" {
			t.Errorf("Authorization %q", r.Header.Get("Authorization"))
		}
		contracttest.MustValidEnvelope(t, "notifica attiva", body)
		m, err := soap.Parse("notifica", r.Header.Get("Content-Type"), body)
		if err != nil {
			t.Fatal(err)
		}
		var req ws.NotificaAttivaRequest
		if err := m.Decode(&req); err != nil {
			t.Fatal(err)
		}
		rn := req.RegistraNotifica
		calls = append(calls, got{rn.Esito.Codice, rn.Esito.Note, rn.RicevutaComunicazione, r.Header.Get("Idempotency-Key")})
		if rn.IdentificativoSDI != "111" {
			t.Errorf("IdentificativoSDI %q", rn.IdentificativoSDI)
		}
		answer(w, snodowsdl.NSNotificaAttiva, "NA00", "NOTIFICA PRESA IN CARICO")
	})
	set := &ws.Settings{Style: ws.StyleSOAP, Contract: ws.ContractNotificaAttiva, Token: "token-dell-ente-0123456789"}
	s := newSender(t, es.endpoint(t, "/notifiche", set, nil))
	want := map[string]string{"RC": "RC", "NS": "NS", "MC": "MC", "NE": "NE", "DT": "DT", "AT": "AT"}
	for tipo, codice := range want {
		d := notificationDelivery(t, "IT01234567890_11111_"+tipo+"_001.xml", "active.notifications")
		calls = nil
		for attempt := 1; attempt <= 2; attempt++ {
			d.Attempt = attempt
			if _, err := s.Send(context.Background(), d); err != nil {
				t.Fatalf("%s: %v", tipo, err)
			}
		}
		if len(calls) != 2 || calls[0].codice != codice {
			t.Fatalf("%s: calls %+v", tipo, calls)
		}
		wantRicevuta, _ := snodowsdl.RicevutaFromMessageID(string(d.MessageID))
		if calls[0].ricevuta != wantRicevuta || calls[1].ricevuta != wantRicevuta || calls[0].key != string(d.MessageID) || calls[1].key != calls[0].key {
			t.Errorf("%s: receipt or idempotency key changed between attempts: %+v (want %s)", tipo, calls, wantRicevuta)
		}
		if tipo == "NE" && calls[0].note != "Notifica di esito di esempio" {
			t.Errorf("NE note %q", calls[0].note)
		}
	}
	// EC02 as NZ on request.
	ec02 := bytes.Replace(fixture(t, "IT01234567890_11111_NE_001.xml"), []byte("<Esito>EC01</Esito>"), []byte("<Esito>EC02</Esito>"), 1)
	set.EsitoNegativoNZ = true
	s2 := newSender(t, es.endpoint(t, "/notifiche", set, nil))
	for _, c := range []struct {
		data []byte
		want string
	}{{ec02, "NZ"}, {fixture(t, "IT01234567890_11111_NE_001.xml"), "NE"}} {
		calls = nil
		d := notificationDelivery(t, "IT01234567890_11111_NE_001.xml", "active.notifications")
		d.Files[0].Data = c.data
		if _, err := s2.Send(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		if calls[0].codice != c.want {
			t.Errorf("NE with esito_negativo_nz: code %q, want %q", calls[0].codice, c.want)
		}
	}
	// An invoice or an EC has no place in this contract.
	for _, name := range []string{"IT01234567890_FPA01.xml", "IT01234567890_11111_EC_001.xml", "IT01234567890_11111_SE_001.xml"} {
		if _, err := s.Send(context.Background(), notificationDelivery(t, name, "active.notifications")); !channel.IsPermanent(err) {
			t.Errorf("%s: %v, want permanent", name, err)
		}
	}
}

// TestResultCodes answers each result code and fault and checks the verdict.
func TestResultCodes(t *testing.T) {
	ns := snodowsdl.NSRegistrazioneFattura
	cases := []struct {
		name      string
		reply     func(w http.ResponseWriter)
		ok        bool
		permanent bool
		mention   string
	}{
		{"EF00", func(w http.ResponseWriter) { answer(w, ns, "EF00", "FATTURA PRESA IN CARICO") }, true, false, ""},
		{"EF01", func(w http.ResponseWriter) { answer(w, ns, "EF01", "CREDENZIALI NON VALIDE") }, false, true, "credenziali"},
		{"EF02", func(w http.ResponseWriter) {
			answer(w, ns, "EF02", "FATTURA RIFIUTATA: IDENTIFICATIVO SDI NON PRESENTE")
		}, false, true, "EF02"},
		{"EF99 fault", func(w http.ResponseWriter) { fault(w, ns, "Server", "EF99", "database non disponibile") }, false, false, "EF99"},
		{"EF99 in a Client fault", func(w http.ResponseWriter) { fault(w, ns, "Client", "EF99", "errore generico") }, false, false, "EF99"},
		{"Client fault", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(500)
			fmt.Fprint(w, `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>Unmarshalling Error: unexpected element</faultstring></soap:Fault></soap:Body></soap:Envelope>`)
		}, false, true, "Unmarshalling"},
		{"unknown code", func(w http.ResponseWriter) { answer(w, ns, "EN00", "NOTIFICA PRESA IN CARICO") }, false, false, "sconosciuto"},
		{"empty code", func(w http.ResponseWriter) { answer(w, ns, "", "") }, false, false, "senza Codice"},
		{"HTTP 503 page", func(w http.ResponseWriter) { http.Error(w, "<html>manutenzione</html>", 503) }, false, false, "503"},
		{"HTTP 401", func(w http.ResponseWriter) { http.Error(w, "no", 401) }, false, true, "401"},
		{"HTTP 404", func(w http.ResponseWriter) { http.Error(w, "not found", 404) }, false, true, "404"},
		{"HTML 200", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>login</html>")
		}, false, true, "URL"},
		{"truncated envelope", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/xml")
			fmt.Fprint(w, `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><f:Response xmlns:f="x"><f:Co`)
		}, false, false, ""},
		{"DOCTYPE answer", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/xml")
			fmt.Fprint(w, `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&e;</soap:Body></soap:Envelope>`)
		}, false, false, ""},
	}
	var reply func(w http.ResponseWriter)
	es := newEnteServer(t, serverOpts{}, func(w http.ResponseWriter, r *http.Request, body []byte) { reply(w) })
	s := newSender(t, es.endpoint(t, "/", &ws.Settings{Style: ws.StyleSOAP, Contract: ws.ContractRegistrazione, Auth: ws.AuthNone}, nil))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reply = c.reply
			_, err := s.Send(context.Background(), invoiceDelivery(t))
			if c.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted, want an error")
			}
			if channel.IsPermanent(err) != c.permanent {
				t.Fatalf("permanent=%v, want %v: %v", channel.IsPermanent(err), c.permanent, err)
			}
			if !strings.Contains(err.Error(), c.mention) || !strings.Contains(err.Error(), "comune-a/passive.protocol") {
				t.Fatalf("error %q should name %q and the endpoint", err, c.mention)
			}
		})
	}
}

// TestMTOM sends the file as an XOP attachment.
func TestMTOM(t *testing.T) {
	es := newEnteServer(t, serverOpts{}, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/related") {
			t.Errorf("Content-Type %q, want an MTOM package", r.Header.Get("Content-Type"))
		}
		m, err := soap.Parse("mtom", r.Header.Get("Content-Type"), body)
		if err != nil {
			t.Fatal(err)
		}
		var req ws.FatturaRequest
		if err := m.Decode(&req); err != nil {
			t.Fatal(err)
		}
		if !m.MTOM || !bytes.Equal(req.RegistraFattura.XML.Data, fixture(t, "IT01234567890_11111.xml.p7m")) || req.RegistraFattura.XML.NomeFile == "" {
			t.Errorf("MTOM %v, %d bytes, name %q", m.MTOM, len(req.RegistraFattura.XML.Data), req.RegistraFattura.XML.NomeFile)
		}
		answer(w, snodowsdl.NSRegistrazioneFattura, "EF00", "FATTURA PRESA IN CARICO")
	})
	s := newSender(t, es.endpoint(t, "/", &ws.Settings{Style: ws.StyleSOAP, Contract: ws.ContractRegistrazione, MTOM: true}, nil))
	if _, err := s.Send(context.Background(), invoiceDelivery(t)); err != nil {
		t.Fatal(err)
	}
}

// TestSOAPMutualTLS delivers on the SOAP style to a server that requires a client
// certificate, with no other credential.
func TestSOAPMutualTLS(t *testing.T) {
	clientCA := testpki.MustCA("CA client di snodo")
	es := newEnteServer(t, serverOpts{clientCA: clientCA}, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Header.Get("Authorization") != "" {
			t.Errorf("Authorization %q with auth none", r.Header.Get("Authorization"))
		}
		answer(w, snodowsdl.NSNotificaAttiva, "NA00", "NOTIFICA PRESA IN CARICO")
	})
	cli, err := clientCA.Client("snodo.hub.test", testpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := cli.WriteFiles(t.TempDir(), "snodo")
	if err != nil {
		t.Fatal(err)
	}
	set := &ws.Settings{Style: ws.StyleSOAP, Contract: ws.ContractNotificaAttiva}
	s := newSender(t, es.endpoint(t, "/", set, func(ep *channel.Endpoint) { ep.TLS.CertFile, ep.TLS.KeyFile = certFile, keyFile }))
	if _, err := s.Send(context.Background(), notificationDelivery(t, "IT01234567890_11111_RC_001.xml", "active.notifications")); err != nil {
		t.Fatal(err)
	}
	if r := es.requests(); len(r) != 1 || r[0].ClientCN != "snodo.hub.test" {
		t.Fatalf("requests %+v", r)
	}
}

// TestTimeout: an ente that does not answer in time is a retryable failure, reported
// within the timeout.
func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	es := newEnteServer(t, serverOpts{}, func(w http.ResponseWriter, r *http.Request, body []byte) {
		select {
		case <-release:
		case <-time.After(30 * time.Second):
		}
	})
	defer close(release)
	for _, set := range []*ws.Settings{{Style: ws.StyleREST, Timeout: 300 * time.Millisecond},
		{Style: ws.StyleSOAP, Contract: ws.ContractRegistrazione, Timeout: 300 * time.Millisecond}} {
		s := newSender(t, es.endpoint(t, "/", set, nil))
		_, err := s.Send(context.Background(), invoiceDelivery(t))
		var ne net.Error
		if err == nil || channel.IsPermanent(err) || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("%s: %v, want a retryable timeout", set.Style, err)
		}
	}
}
