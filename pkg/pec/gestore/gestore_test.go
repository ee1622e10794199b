package gestore_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"snodo/pkg/pec"
	"snodo/pkg/pec/compose"
	"snodo/pkg/pec/daticert"
	"snodo/pkg/pec/gestore"
	"snodo/pkg/pec/pectest"
	"snodo/pkg/testpki"
)

// TestOpenSSLVerifiesEnvelope: the reference S/MIME implementation accepts what we sign.
func TestOpenSSLVerifiesEnvelope(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl mancante: installare il pacchetto Debian openssl (openssl missing: apt-get install openssl)")
	}
	ca := testpki.MustCA("CA")
	iss, err := ca.Signing("Gestore", testpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := &gestore.Provider{Name: "Gestore", Domain: "pec.example.it"}
	p.Signer.Cert, p.Signer.Key = iss.Cert, iss.Key
	o := pectest.Original(t, "a@pec.example.it", "b@pec.example.it")
	env, err := p.Envelope(o, p.NewIdentificativo())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile, _ := ca.WriteFile(dir, "ca")
	in := filepath.Join(dir, "busta.eml")
	os.WriteFile(in, env, 0o644)
	out, err := exec.Command(openssl, "smime", "-verify", "-in", in, "-CAfile", caFile, "-purpose", "any", "-out", os.DevNull).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl smime -verify: %v\n%s", err, out)
	}
	// and refuses it once altered
	os.WriteFile(in, bytes.Replace(env, []byte("In allegato"), []byte("In allegatO"), 1), 0o644)
	if out, err := exec.Command(openssl, "smime", "-verify", "-in", in, "-CAfile", caFile, "-purpose", "any", "-out", os.DevNull).CombinedOutput(); err == nil {
		t.Fatalf("openssl accepted an altered envelope: %s", out)
	}
}

func TestReceiptKinds(t *testing.T) {
	p, trust := pectest.Provider(t, "pec.example.it")
	for _, tc := range []struct {
		tipo      string
		postacert bool
	}{{daticert.Completa, true}, {daticert.Breve, true}, {daticert.Sintetica, false}} {
		raw, _, err := compose.Build(compose.Mail{From: "a@pec.example.it", To: []string{"b@pec.example.it"}, Subject: "s", Text: "t",
			TipoRicevuta: tc.tipo, Attachments: []compose.Attachment{pectest.Invoice}})
		if err != nil {
			t.Fatal(err)
		}
		o, err := gestore.ReadOriginal(raw)
		if err != nil {
			t.Fatal(err)
		}
		b, err := p.Receipt(o, gestore.Receipt{Tipo: daticert.AvvenutaConsegna, Consegna: "b@pec.example.it"})
		if err != nil {
			t.Fatal(err)
		}
		e, err := pec.Parse(tc.tipo, b, pec.Options{Trust: trust})
		if err != nil {
			t.Fatalf("%s: %v", tc.tipo, err)
		}
		if (e.Postacert != nil) != tc.postacert || e.Daticert.Ricevuta != tc.tipo || e.TipoRicevuta != tc.tipo {
			t.Fatalf("%s: postacert %v ricevuta %q header %q", tc.tipo, e.Postacert != nil, e.Daticert.Ricevuta, e.TipoRicevuta)
		}
		if tc.tipo == daticert.Breve {
			// the attachment is replaced by its SHA-256
			sum := sha256.Sum256(pectest.Invoice.Data)
			a := e.Postacert.Attachments
			if len(a) != 1 || !bytes.Equal(a[0].Data, sum[:]) {
				t.Fatalf("breve: %+v", a)
			}
			// its first base64 line (57 bytes: past the XML declaration daticert.xml shares)
			if strings.Contains(string(b), base64.StdEncoding.EncodeToString(pectest.Invoice.Data)[:76]) {
				t.Fatal("breve receipt still carries the attachment")
			}
		}
	}
	o := pectest.Original(t, "a@pec.example.it", "b@pec.example.it")
	if _, err := p.Receipt(o, gestore.Receipt{Tipo: "boh"}); err == nil {
		t.Fatal("unknown receipt type accepted")
	}
}

func TestReadOriginalLF(t *testing.T) {
	o, err := gestore.ReadOriginal([]byte("From: a@pec.example.it\nTo: b@pec.example.it, c@pec.example.it\nBcc: d@x.it\nSubject: s\nMessage-ID: <1@x>\n\nbody\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(o.Raw, []byte("From: a@pec.example.it\r\nTo: b@pec.example.it, c@pec.example.it\r\nBcc: d@x.it\r\nSubject: s\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n")) {
		t.Fatalf("raw %q", o.Raw)
	}
	if len(o.To) != 2 || len(o.Bcc) != 1 || o.TipoRicevuta != daticert.Completa || o.MessageID != "<1@x>" {
		t.Fatalf("%+v", o)
	}
}
