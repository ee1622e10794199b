package compose

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"snodo/pkg/pec"
)

func TestBuild(t *testing.T) {
	inv := []byte("<?xml version=\"1.0\"?><a>è</a>")
	raw, id, err := Build(Mail{
		From: "protocollo@pec.comune.example.it", FromName: "Comune di Prova", To: []string{"sdi01@pec.fatturapa.it"},
		Cc: []string{"ragioneria@pec.comune.example.it"}, Subject: "IT01234567890_00001.xml – invio",
		Text: "Si trasmette la fattura.", HTML: "<p>Si trasmette la fattura.</p>", TipoRicevuta: "completa",
		Attachments: []Attachment{{Name: "IT01234567890_00001.xml", Data: inv}, {Name: "fattura.xml.p7m", Data: []byte{0x30, 0x80}}},
		Header:      map[string]string{"X-Snodo-Ente": "c_a123"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@pec.comune.example.it>") {
		t.Fatalf("message id %q", id)
	}
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Fatal("bare LF in output")
	}
	m, problems, err := pec.ReadMessage("built", raw, pec.Options{})
	if err != nil || len(problems) != 0 {
		t.Fatalf("%v %v", err, problems)
	}
	if m.MessageID != id || m.From != "protocollo@pec.comune.example.it" || m.Subject != "IT01234567890_00001.xml – invio" ||
		len(m.To) != 1 || len(m.Cc) != 1 || m.TipoRicevuta != "completa" || m.Text != "Si trasmette la fattura." || m.HTML == "" {
		t.Fatalf("%+v", m)
	}
	if len(m.Attachments) != 2 || !bytes.Equal(m.Attachments[0].Data, inv) || m.Attachments[0].ContentType != "application/xml" ||
		m.Attachments[1].ContentType != "application/pkcs7-mime" {
		t.Fatalf("attachments %+v", m.Attachments)
	}
	if !bytes.Contains(raw, []byte("X-Snodo-Ente: c_a123")) {
		t.Fatal("extra header missing")
	}
}

func TestBuildRefuses(t *testing.T) {
	ok := Mail{From: "a@pec.example.it", To: []string{"b@pec.example.it"}, Subject: "x", Text: "x"}
	for _, tc := range []struct {
		name   string
		edit   func(m *Mail)
		reason string
	}{
		{"no recipient", func(m *Mail) { m.To = nil }, "no To recipient"},
		{"bad from", func(m *Mail) { m.From = "not an address" }, "not a valid address"},
		{"header injection in subject", func(m *Mail) { m.Subject = "x\r\nBcc: spia@example.com" }, "line break"},
		{"header injection in extra header", func(m *Mail) { m.Header = map[string]string{"X-A": "1\nBcc: x@y"} }, "line break"},
		{"Bcc as extra header", func(m *Mail) { m.Header = map[string]string{"Bcc": "x@y.it"} }, "not allowed"},
		{"path in attachment name", func(m *Mail) { m.Attachments = []Attachment{{Name: "../x.xml"}} }, "not safe"},
		{"bad receipt kind", func(m *Mail) { m.TipoRicevuta = "lunga" }, "allowed"},
		{"bad recipient", func(m *Mail) { m.Cc = []string{"@@"} }, "not a valid address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := ok
			tc.edit(&m)
			_, _, err := Build(m)
			if err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("err %v, want %q", err, tc.reason)
			}
		})
	}
}

func TestSubjects(t *testing.T) {
	d := SubjectData{IdentificativoSdI: "123456789", NomeFile: "IT01234567890_00001.xml", Cedente: "ACME\r\nS.p.A.",
		Data: time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)}
	s, err := NewSubjects(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p    Phase
		want string
	}{
		{PhaseFattura, "123456789 - IT01234567890_00001.xml - Fattura ACME S.p.A. - Data Ricezione SDI 04/03/2025"},
		{PhaseDecorrenzaTermini, "123456789 - IT01234567890_00001.xml - Decorrenza Termini ACME S.p.A. - Data Ricezione SDI 04/03/2025"},
		{PhaseNotificaEsito, "123456789 - IT01234567890_00001.xml - Notifica Esito ACME S.p.A. - Data Ricezione Ente 04/03/2025"},
		{PhaseNotificaScarto, "123456789 - IT01234567890_00001.xml - Notifica Scarto ACME S.p.A. - Data Ricezione SDI 04/03/2025"},
		{PhaseInvioSdI, "IT01234567890_00001.xml"},
	} {
		got, err := s.Render(tc.p, d)
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.p, got, err, tc.want)
		}
	}
	base, err := NewSubjects(BaseTemplates)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := base.Render(PhaseFattura, d); got != "Fattura - Identificativo SDI: 123456789" {
		t.Errorf("base: %q", got)
	}
	if _, err := NewSubjects(map[Phase]string{PhaseFattura: "{{.Nope}}"}); err == nil || !strings.Contains(err.Error(), "fattura") {
		t.Errorf("bad field not refused: %v", err)
	}
	if _, err := NewSubjects(map[Phase]string{PhaseFattura: "{{"}); err == nil {
		t.Error("bad template not refused")
	}
	if _, err := s.Render("boh", d); err == nil {
		t.Error("unknown phase rendered")
	}
}
