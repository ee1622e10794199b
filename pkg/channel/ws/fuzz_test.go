package ws

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"snodo/pkg/channel"
	"snodo/pkg/message"
)

// answerTransport answers every request with a fixed (fuzzed) response.
type answerTransport struct {
	status int
	ct     string
	body   []byte
	hdr    string
}

func (a *answerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	io.Copy(io.Discard, r.Body)
	h := http.Header{"Content-Type": {a.ct}}
	if a.hdr != "" {
		h.Set(HeaderSnodoNumeroProtocollo, a.hdr)
	}
	return &http.Response{StatusCode: a.status, Header: h, Body: io.NopCloser(bytes.NewReader(a.body)), Request: r}, nil
}

// FuzzEnteAnswer feeds arbitrary answers of an ente's system to both styles: the sender
// must classify every one without panicking, and call delivered only what says so.
func FuzzEnteAnswer(f *testing.F) {
	f.Add(200, "text/xml", []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><f:Response xmlns:f="x"><f:Codice>EF00</f:Codice><f:Descrizione>ok</f:Descrizione></f:Response></s:Body></s:Envelope>`), "")
	f.Add(500, "text/xml", []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Server</faultcode><faultstring>x</faultstring><detail><Codice>EF99</Codice></detail></s:Fault></s:Body></s:Envelope>`), "")
	f.Add(200, "application/json", []byte(`{"numero_protocollo": 12, "data_protocollo": "2026-01-01"}`), "")
	f.Add(201, "application/json", []byte(`{"numero_protocollo": {"a":1}}`), "PG/1")
	f.Add(200, `multipart/related; boundary="b"; type="application/xop+xml"`, []byte("--b\r\n\r\n<x/>\r\n--b--"), "")
	f.Add(302, "text/html", []byte("<html>"), "")
	f.Fuzz(func(t *testing.T, status int, ct string, body []byte, hdr string) {
		if status < 100 || status > 999 {
			status = 200
		}
		for _, set := range []*Settings{{Style: StyleSOAP, Contract: ContractRegistrazione}, {Style: StyleREST}} {
			u, _ := url.Parse("http://127.0.0.1:1/x")
			ep := &channel.Endpoint{Name: "fuzz", URL: u, Settings: set}
			snd, err := NewSender(ep, channel.Deps{})
			if err != nil {
				t.Fatal(err)
			}
			s := snd.(*Sender)
			s.http.Transport = &answerTransport{status: status, ct: ct, body: body, hdr: strings.Map(func(r rune) rune {
				if r < 0x20 || r == 0x7f {
					return -1
				}
				return r
			}, hdr)}
			d := &channel.Delivery{MessageID: "06h187jf8skmcmzrc629r8afw0", FileName: "IT01234567890_11111.xml",
				Files:   []message.File{{Name: "IT01234567890_11111.xml", Data: []byte("<a/>")}},
				Headers: map[string]string{message.HeaderIdentificativoSdI: "111"}}
			res, err := s.Send(context.Background(), d)
			if err == nil && set.Style == StyleSOAP && !bytes.Contains(body, []byte("EF00")) {
				t.Fatalf("delivered on an answer without EF00: %q", body)
			}
			if err == nil && set.Style == StyleREST && (status < 200 || status > 299) {
				t.Fatalf("delivered on HTTP %d", status)
			}
			if n := res.Headers[message.HeaderNumeroProtocollo]; len([]rune(n)) > 100 {
				t.Fatalf("protocol number of %d runes kept", len(n))
			}
		}
	})
}
