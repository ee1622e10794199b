package pec_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snodo/pkg/pec"
	"snodo/pkg/pec/compose"
	"snodo/pkg/pec/daticert"
	"snodo/pkg/pec/gestore"
	"snodo/pkg/pec/pectest"
	"snodo/pkg/pec/smime"
)

const samples = "../../testdata/pec/samples"

func hasProblem(e *pec.Envelope, c pec.Code, sev pec.Severity, substr string) bool {
	for _, p := range e.Problems {
		if p.Code == c && p.Severity == sev && strings.Contains(p.Reason, substr) {
			return true
		}
	}
	return false
}

func TestSamples(t *testing.T) {
	for _, tc := range []struct {
		file  string
		kind  pec.Kind
		check func(t *testing.T, e *pec.Envelope)
	}{
		{"accettazione.eml", pec.KindAccettazione, func(t *testing.T, e *pec.Envelope) {
			if e.Riferimento != "<SN05IE$951DEC16C1CFD3E4FD8FF1B1D24A99AE@fakepec.it>" || e.Daticert.MsgID != e.Riferimento {
				t.Fatalf("riferimento %q msgid %q", e.Riferimento, e.Daticert.MsgID)
			}
			if !strings.Contains(e.Text, "è stato accettato dal sistema") {
				t.Fatalf("text (iso-8859-1, quoted-printable) not decoded: %q", e.Text)
			}
			if e.Postacert != nil {
				t.Fatal("an acceptance receipt has no postacert.eml")
			}
		}},
		{"consegna.eml", pec.KindErroreConsegna, func(t *testing.T, e *pec.Envelope) {
			// The anonymised sample's X-Riferimento-Message-ID and msgid disagree: flagged.
			if !hasProblem(e, pec.CodeMismatch, pec.SeverityError, "X-Riferimento-Message-ID") {
				t.Fatalf("msgid mismatch not flagged: %v", e.Problems)
			}
			if e.Daticert.Errore != daticert.NoDest {
				t.Fatalf("errore %q", e.Daticert.Errore)
			}
		}},
		{"email_2.eml", pec.KindAvvenutaConsegna, func(t *testing.T, e *pec.Envelope) {
			if e.Postacert == nil {
				t.Fatal("postacert.eml missing")
			}
			// The sample's PDF bodies are cut ("Ci..kK"): reported, not hidden.
			if !hasProblem(e, pec.CodeAttachment, pec.SeverityError, "cannot be decoded") {
				t.Fatalf("corrupt attachment not flagged: %v", e.Problems)
			}
		}},
		{"email_3.eml", pec.KindPostaCertificata, func(t *testing.T, e *pec.Envelope) {
			if e.Postacert == nil || e.Postacert.Subject != "POSTA CERTIFICATA: SUBJECT" || e.Postacert.Text != "text\r\n" {
				t.Fatalf("postacert %+v", e.Postacert)
			}
			if e.TipoRicevuta != "completa" || e.FromName != "Per conto di: no-reply@example.com" {
				t.Fatalf("X-Tiporicevuta %q from name %q", e.TipoRicevuta, e.FromName)
			}
			if !hasProblem(e, pec.CodeStructure, pec.SeverityWarning, "closing boundary") {
				t.Fatalf("truncated postacert not reported: %v", e.Problems)
			}
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(samples, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			e, err := pec.Parse(tc.file, raw, pec.Options{})
			if e == nil {
				t.Fatalf("no envelope: %v", err)
			}
			if e.Kind != tc.kind || e.Daticert == nil || pec.Kind(e.Daticert.Tipo) != tc.kind {
				t.Fatalf("kind %q daticert %+v", e.Kind, e.Daticert)
			}
			// Every sample's smime.p7s is a placeholder: the verdict must say so.
			var pe *pec.Error
			if !errors.As(err, &pe) || !pe.Has(pec.CodeSignature) || e.Signature.Status != smime.Invalid {
				t.Fatalf("placeholder signature not refused: %v / %+v", err, e.Signature)
			}
			tc.check(t, e)
		})
	}
}

// built makes every message kind a provider emits, each about the same original.
func built(t testing.TB) (map[string][]byte, *gestore.Original, *smime.TrustStore) {
	p, trust := pectest.Provider(t, "pec.gestore.example")
	o := pectest.Original(t, "protocollo@pec.comune.example.it", "sdi01@pec.fatturapa.it")
	id := p.NewIdentificativo()
	out := map[string][]byte{}
	add := func(name string, b []byte, err error) {
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = b
	}
	b, err := p.Envelope(o, id)
	add("posta-certificata", b, err)
	for _, r := range []gestore.Receipt{
		{Tipo: daticert.Accettazione, Identificativo: id},
		{Tipo: daticert.NonAccettazione, Identificativo: id, Errore: daticert.Altro, ErroreEsteso: "messaggio troppo grande"},
		{Tipo: daticert.PresaInCarico, Identificativo: id, Ricezione: []string{"sdi01@pec.fatturapa.it"}},
		{Tipo: daticert.AvvenutaConsegna, Identificativo: id, Consegna: "sdi01@pec.fatturapa.it"},
		{Tipo: daticert.ErroreConsegna, Identificativo: id, Consegna: "sdi01@pec.fatturapa.it", Errore: daticert.NoDest, ErroreEsteso: "5.1.1 - Gestore - indirizzo non valido"},
		{Tipo: daticert.PreavvisoErroreConsegna, Identificativo: id, Consegna: "sdi01@pec.fatturapa.it"},
		{Tipo: daticert.RilevazioneVirus, Identificativo: id, Errore: daticert.Virus},
	} {
		b, err := p.Receipt(o, r)
		add(string(r.Tipo), b, err)
	}
	b, err = p.Receipt(o, gestore.Receipt{Tipo: daticert.ErroreConsegna, Identificativo: id, Consegna: "sdi01@pec.fatturapa.it", Virus: true})
	add("errore-consegna-virus", b, err)
	plain, _, _ := compose.Build(compose.Mail{From: "utente@example.com", To: []string{"protocollo@pec.comune.example.it"}, Subject: "ordinaria", Text: "ciao"})
	b, err = p.Anomalia(plain, "protocollo@pec.comune.example.it", "messaggio non certificato")
	add("anomalia", b, err)
	return out, o, trust
}

func TestBuiltMessagesRoundTrip(t *testing.T) {
	msgs, o, trust := built(t)
	for name, raw := range msgs {
		t.Run(name, func(t *testing.T) {
			e, err := pec.Parse(name, raw, pec.Options{Trust: trust})
			if err != nil {
				t.Fatalf("%v\n%s", err, raw)
			}
			want := pec.Kind(name)
			if name == "errore-consegna-virus" {
				want = pec.KindErroreConsegna
			}
			if e.Kind != want {
				t.Fatalf("kind %q, want %q", e.Kind, want)
			}
			if e.Signature.Status != smime.Valid || !strings.Contains(e.Signature.Signer, "Gestore PEC di prova") {
				t.Fatalf("signature %+v", e.Signature)
			}
			for _, p := range e.Problems {
				t.Errorf("unexpected problem: %s", p)
			}
			if e.Kind == pec.KindAnomalia {
				if e.Daticert != nil || e.Postacert == nil || e.Postacert.Subject != "ordinaria" {
					t.Fatalf("anomalia: daticert %v postacert %+v", e.Daticert, e.Postacert)
				}
				return
			}
			if e.Daticert.MsgID != o.MessageID || e.Riferimento != o.MessageID || e.Daticert.Mittente != o.From {
				t.Fatalf("daticert msgid %q riferimento %q mittente %q", e.Daticert.MsgID, e.Riferimento, e.Daticert.Mittente)
			}
			switch e.Kind {
			case pec.KindPostaCertificata, pec.KindAvvenutaConsegna:
				if e.Postacert == nil || len(e.Postacert.Attachments) != 1 {
					t.Fatalf("postacert %+v", e.Postacert)
				}
				a := e.Postacert.Attachments[0]
				if a.Name != pectest.Invoice.Name || !bytes.Equal(a.Data, pectest.Invoice.Data) || a.ContentType != "application/xml" {
					t.Fatalf("attachment %s %s %d bytes", a.Name, a.ContentType, a.Size)
				}
				if e.Postacert.MessageID != o.MessageID {
					t.Fatalf("postacert Message-ID %q", e.Postacert.MessageID)
				}
			default:
				if e.Postacert != nil {
					t.Fatalf("%s carries postacert.eml", e.Kind)
				}
			}
			if name == "errore-consegna-virus" && (e.VerificaSicurezza != "errore" || e.Daticert.Errore != daticert.Virus ||
				!strings.HasPrefix(e.Subject, "AVVISO DI MANCATA CONSEGNA PER VIRUS:")) {
				t.Fatalf("virus notice: %q %q %q", e.VerificaSicurezza, e.Daticert.Errore, e.Subject)
			}
		})
	}
}

// edit applies a textual change to the (unsigned) outer header or anywhere.
func replace(t *testing.T, raw []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(raw, []byte(old)) {
		t.Fatalf("%q not found", old)
	}
	return bytes.Replace(raw, []byte(old), []byte(new), 1)
}

func TestHostile(t *testing.T) {
	msgs, o, trust := built(t)
	_, otherTrust := pectest.Provider(t, "altro.example")
	acc := msgs["accettazione"]
	env := msgs["posta-certificata"]
	hdrEnd := bytes.Index(env, []byte("\r\n\r\n"))
	plain, _, _ := compose.Build(compose.Mail{From: "a@example.com", To: []string{"b@example.com"}, Subject: "ciao", Text: "ciao"})
	big, _, _ := compose.Build(compose.Mail{From: "a@example.com", To: []string{"b@example.com"}, Subject: "grande", Text: "x",
		Attachments: []compose.Attachment{{Name: "grande.bin", Data: bytes.Repeat([]byte{0xA5}, 40<<20)}}})
	var bomb strings.Builder
	bomb.WriteString("X-Ricevuta: accettazione\r\n")
	for i := range 5000 {
		fmt.Fprintf(&bomb, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	var manyParts strings.Builder
	manyParts.WriteString("Content-Type: multipart/mixed; boundary=b\r\n\r\n")
	for range 5000 {
		manyParts.WriteString("--b\r\n\r\nx\r\n")
	}

	for _, tc := range []struct {
		name   string
		raw    []byte
		trust  *smime.TrustStore
		fatal  error    // Parse returns no envelope and this class
		code   pec.Code // else Err() must include this code
		reason string
		kind   pec.Kind
	}{
		{name: "40 MB attachment", raw: big, fatal: pec.ErrTooLarge, reason: "30 MB"},
		{name: "nested multipart bomb", raw: []byte(bomb.String()), fatal: pec.ErrMalformed, reason: "nesting"},
		{name: "too many parts", raw: []byte(manyParts.String()), fatal: pec.ErrMalformed, reason: "MIME parts"},
		{name: "empty", raw: []byte("\r\n"), fatal: pec.ErrMalformed},
		{name: "ordinary mail", raw: plain, code: pec.CodeNotPEC, kind: pec.KindNonPEC, reason: "not a PEC"},
		{name: "binary garbage", raw: []byte("\x00\x01\x02garbage\xff"), code: pec.CodeNotPEC, kind: pec.KindNonPEC},
		{name: "signed content altered", raw: replace(t, env, "In allegato la fattura.", "In allegato la fattura!"),
			trust: trust, code: pec.CodeSignature, reason: "content altered", kind: pec.KindPostaCertificata},
		{name: "signature part cut", raw: env[:len(env)-400], trust: trust, code: pec.CodeSignature, kind: pec.KindPostaCertificata},
		{name: "signed by an unknown provider", raw: env, trust: otherTrust, code: pec.CodeSignatureUntrusted, reason: "not trusted", kind: pec.KindPostaCertificata},
		{name: "daticert lies about msgid", raw: replace(t, acc, "X-Riferimento-Message-ID: "+o.MessageID, "X-Riferimento-Message-ID: <altro@example.it>"),
			trust: trust, code: pec.CodeMismatch, reason: "X-Riferimento-Message-ID", kind: pec.KindAccettazione},
		{name: "headers lie about the type", raw: replace(t, acc, "X-Ricevuta: accettazione", "X-Ricevuta: avvenuta-consegna"),
			trust: trust, code: pec.CodeMismatch, reason: "daticert.xml says", kind: pec.KindAvvenutaConsegna},
		{name: "receipt addressed to someone else", raw: replace(t, acc, "To: "+o.From, "To: intruso@example.it"),
			trust: trust, code: pec.CodeMismatch, reason: "daticert sender", kind: pec.KindAccettazione},
		{name: "envelope sender rewritten", raw: replace(t, env, "Reply-To: "+o.From, "Reply-To: falso@example.it"),
			trust: trust, code: pec.CodeMismatch, reason: "headers' sender", kind: pec.KindPostaCertificata},
		{name: "duplicate X-Ricevuta", raw: replace(t, acc, "X-Ricevuta: accettazione", "X-Ricevuta: accettazione\r\nX-Ricevuta: avvenuta-consegna"),
			trust: trust, code: pec.CodeHeader, reason: "repeated", kind: pec.KindAccettazione},
		{name: "unknown X-Trasporto", raw: replace(t, env, "X-Trasporto: posta-certificata", "X-Trasporto: boh"),
			trust: trust, code: pec.CodeHeader, reason: "unknown X-Trasporto", kind: pec.KindUnknown},
		{name: "PEC headers without signature", raw: append([]byte("X-Ricevuta: accettazione\r\nSubject: ACCETTAZIONE: x\r\n\r\n"), []byte("testo")...),
			code: pec.CodeSignature, reason: "not signed", kind: pec.KindAccettazione},
		{name: "only the header of an envelope", raw: env[:hdrEnd+4], trust: trust, code: pec.CodeStructure, kind: pec.KindPostaCertificata},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := pec.Parse(tc.name, tc.raw, pec.Options{Trust: tc.trust})
			if tc.fatal != nil {
				if e != nil || !errors.Is(err, tc.fatal) || !strings.Contains(err.Error(), tc.reason) {
					t.Fatalf("envelope %v, err %v; want %v with %q", e != nil, err, tc.fatal, tc.reason)
				}
				return
			}
			var pe *pec.Error
			if e == nil || !errors.As(err, &pe) || !pe.Has(tc.code) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("err %v; want code %s with %q", err, tc.code, tc.reason)
			}
			if !strings.Contains(err.Error(), tc.name) {
				t.Fatalf("error does not name the input: %v", err)
			}
			if e.Kind != tc.kind {
				t.Fatalf("kind %q, want %q", e.Kind, tc.kind)
			}
		})
	}
}

func TestVariants(t *testing.T) {
	msgs, _, trust := built(t)
	env := msgs["posta-certificata"]
	// x-pkcs7-signature, as the SdI's provider labels it: same signature.
	x := bytes.ReplaceAll(env, []byte("application/pkcs7-signature"), []byte("application/x-pkcs7-signature"))
	if e, err := pec.Parse("x-pkcs7", x, pec.Options{Trust: trust}); err != nil || e.Signature.Status != smime.Valid {
		t.Fatalf("x-pkcs7-signature: %v", err)
	}
	// Stored with LF line endings: verified on the canonical form, with a warning.
	lf := bytes.ReplaceAll(env, []byte("\r\n"), []byte("\n"))
	e, err := pec.Parse("lf", lf, pec.Options{Trust: trust})
	if err != nil || !hasProblem(e, pec.CodeStructure, pec.SeverityWarning, "canonical CRLF") {
		t.Fatalf("LF copy: %v %v", err, e.Problems)
	}
	// No trust store: intact signature, a warning, no error.
	e, err = pec.Parse("notrust", env, pec.Options{})
	if err != nil || e.Signature.Status != smime.Unchecked || !hasProblem(e, pec.CodeSignatureUnchecked, pec.SeverityWarning, "no trust store") {
		t.Fatalf("without trust store: %v %+v", err, e.Signature)
	}
	// Opaque signed-data (application/pkcs7-mime) carrying the same signed entity.
	sigStart := bytes.Index(env, []byte("This is an S/MIME signed message"))
	boundaryLine := env[sigStart+len("This is an S/MIME signed message\r\n\r\n"):]
	content := boundaryLine[bytes.Index(boundaryLine, []byte("\r\n"))+2:]
	content = content[:bytes.Index(content, []byte("\r\n--"+string(boundaryLine[2:bytes.Index(boundaryLine, []byte("\r\n"))])))]
	p, trust2 := pectest.Provider(t, "opaque.example")
	p7m, err := smime.SignOpaque(content, p.Signer)
	if err != nil {
		t.Fatal(err)
	}
	hdr := env[:bytes.Index(env, []byte("MIME-Version: 1.0\r\nContent-Type: multipart/signed"))]
	var opaque bytes.Buffer
	opaque.Write(hdr)
	opaque.WriteString("MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	opaque.WriteString(b64(p7m))
	e, err = pec.Parse("opaque", opaque.Bytes(), pec.Options{Trust: trust2})
	if err != nil || e.Kind != pec.KindPostaCertificata || e.Postacert == nil || len(e.Postacert.Attachments) != 1 {
		t.Fatalf("opaque: %v kind %q", err, e.Kind)
	}
}

func b64(b []byte) string {
	var out strings.Builder
	s := encodeStd(b)
	for len(s) > 76 {
		out.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	out.WriteString(s + "\r\n")
	return out.String()
}

func TestReadMessageAndSafeName(t *testing.T) {
	raw, id, err := compose.Build(compose.Mail{From: "a@example.com", To: []string{"b@example.com"}, Subject: "Fattura caffè",
		Text: "testo", HTML: "<p>testo</p>", TipoRicevuta: "breve",
		Attachments: []compose.Attachment{pectest.Invoice, {Name: "nota spese.pdf", Data: []byte("%PDF-1.4")}}})
	if err != nil {
		t.Fatal(err)
	}
	m, problems, err := pec.ReadMessage("m", raw, pec.Options{})
	if err != nil || len(problems) != 0 {
		t.Fatalf("%v %v", err, problems)
	}
	if m.MessageID != id || m.Subject != "Fattura caffè" || m.Text != "testo" || m.HTML != "<p>testo</p>" || m.TipoRicevuta != "breve" || len(m.Attachments) != 2 {
		t.Fatalf("%+v", m)
	}
	if m.Attachments[1].Name != "nota spese.pdf" || m.Attachments[1].ContentType != "application/pdf" {
		t.Fatalf("%+v", m.Attachments[1])
	}
	for in, want := range map[string]string{
		"IT01234567890_00001.xml": "IT01234567890_00001.xml",
		"../../etc/passwd":        "passwd",
		`C:\Windows\evil.exe`:     "evil.exe",
		"..":                      "",
		".bashrc":                 "bashrc",
		"a\x00b\nc.xml":           "abc.xml",
		"fattura:1?.xml":          "fattura_1_.xml",
		strings.Repeat("è", 300):  strings.Repeat("è", 100),
	} {
		if got := pec.SafeName(in); got != want {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	msgs, _, trust := built(f)
	for _, m := range msgs {
		f.Add(m)
	}
	for _, s := range []string{"accettazione.eml", "consegna.eml", "email_2.eml", "email_3.eml"} {
		b, err := os.ReadFile(filepath.Join(samples, s))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := pec.Parse("fuzz", raw, pec.Options{Trust: trust, MaxSize: 1 << 20})
		if e == nil {
			if err == nil {
				t.Fatal("no envelope and no error")
			}
			return
		}
		if err == nil && e.Signature.Status != smime.Valid {
			t.Fatalf("accepted without a valid signature: %+v", e.Signature)
		}
		if err == nil && e.Kind == pec.KindNonPEC {
			t.Fatal("non-PEC accepted")
		}
	})
}
