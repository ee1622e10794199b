package daticert

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"snodo/pkg/pec/rawmime"
)

var update = flag.Bool("update", false, "rewrite golden files")

const testdata = "../../../testdata/pec"

// fromSample extracts daticert.xml from a sample PEC message.
func fromSample(t testing.TB, file string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testdata, "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	root, err := rawmime.Parse(raw, rawmime.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	_ = root.Walk(func(p *rawmime.Part) error {
		if p.FileName() == "daticert.xml" {
			out, err = p.Decoded()
		}
		return nil
	})
	if out == nil || err != nil {
		t.Fatalf("%s: no daticert.xml (%v)", file, err)
	}
	return out
}

func TestParseSamples(t *testing.T) {
	for _, tc := range []struct {
		file string
		want Daticert
	}{
		{"accettazione.eml", Daticert{
			Tipo: Accettazione, Errore: Nessuno, Mittente: "sender@fakepec.it",
			Destinatari: []Destinatario{{"rec@fakepec.it", Certificato}}, Risposte: "sender@fakepec.it",
			Oggetto: "Test PEC", GestoreEmittente: "FAKEPEC PEC S.p.A.",
			Data:           Data{Zona: "+0100", Giorno: "15/11/2024", Ora: "18:20:38"},
			Identificativo: "opec210312.20241115182038.288127.606.1.53@fakepec.it",
			MsgID:          "<SN05IE$951DEC16C1CFD3E4FD8FF1B1D24A99AE@fakepec.it>",
		}},
		{"consegna.eml", Daticert{
			Tipo: ErroreConsegna, Errore: NoDest,
		}},
		{"email_2.eml", Daticert{Tipo: AvvenutaConsegna, Errore: Nessuno, Ricevuta: Completa}},
		{"email_3.eml", Daticert{Tipo: PostaCertificata, Errore: Nessuno, Ricevuta: Completa,
			Oggetto: "POSTA CERTIFICATA: SUBJECT", MsgID: "<CZPXCJRZKQDRVYXFAZYUIAWNACDAAHEVAEXAKN@example.com>"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			d, err := Parse(tc.file, fromSample(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want.Mittente != "" { // full comparison
				if !reflect.DeepEqual(*d, tc.want) {
					t.Fatalf("got %+v\nwant %+v", *d, tc.want)
				}
			} else {
				if d.Tipo != tc.want.Tipo || d.Errore != tc.want.Errore || d.Ricevuta != tc.want.Ricevuta {
					t.Fatalf("tipo %q errore %q ricevuta %q", d.Tipo, d.Errore, d.Ricevuta)
				}
				if tc.want.Oggetto != "" && (d.Oggetto != tc.want.Oggetto || d.MsgID != tc.want.MsgID) {
					t.Fatalf("oggetto %q msgid %q", d.Oggetto, d.MsgID)
				}
			}
			if v := d.Validate(); len(v) != 0 {
				t.Fatalf("sample should validate: %v", v)
			}
		})
	}
	// consegna.eml carries the stray character the DTD refuses; the error text survives.
	d, _ := Parse("consegna", fromSample(t, "consegna.eml"))
	if d.ErroreEsteso != "5.1.1 - FAKE Pec S.p.A. - indirizzo non valido" || d.Consegna == "" {
		t.Fatalf("errore-esteso %q consegna %q", d.ErroreEsteso, d.Consegna)
	}
}

func TestParseTolerantAndHostile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		wantErr string
		check   func(t *testing.T, d *Daticert)
	}{
		{name: "doctype refused", in: `<?xml version="1.0"?><!DOCTYPE postacert [<!ENTITY x "y">]><postacert tipo="accettazione"/>`, wantErr: "DOCTYPE"},
		{name: "not xml", in: `hello`, wantErr: "not XML"},
		{name: "wrong root", in: `<other/>`, wantErr: "malformed XML"},
		{name: "truncated", in: `<postacert tipo="accettazione"><intestazione>`, wantErr: "malformed XML"},
		{name: "oversize", in: `<postacert>` + strings.Repeat(" ", MaxSize) + `</postacert>`, wantErr: "limit"},
		{name: "joined recipients", in: `<postacert tipo="posta-certificata"><intestazione><mittente>a@x.it</mittente><destinatari>b@x.it, c@x.it</destinatari><destinatari tipo="esterno">d@y.it</destinatari><risposte>a@x.it</risposte></intestazione><dati><gestore-emittente>G</gestore-emittente><data zona="+0200"><giorno>01/06/2025</giorno><ora>10:00:00</ora></data><identificativo>id1</identificativo></dati></postacert>`,
			check: func(t *testing.T, d *Daticert) {
				want := []Destinatario{{"b@x.it", Certificato}, {"c@x.it", Certificato}, {"d@y.it", Esterno}}
				if !reflect.DeepEqual(d.Destinatari, want) {
					t.Fatalf("destinatari %+v", d.Destinatari)
				}
				if v := d.Validate(); len(v) != 0 {
					t.Fatalf("validate: %v", v)
				}
				tm, _ := d.Time()
				if !tm.Equal(time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)) {
					t.Fatalf("time %v", tm)
				}
			}},
		{name: "latin1 declared", in: "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><postacert tipo=\"accettazione\"><intestazione><oggetto>caff\xe8</oggetto></intestazione></postacert>",
			check: func(t *testing.T, d *Daticert) {
				if d.Oggetto != "caffè" {
					t.Fatalf("oggetto %q", d.Oggetto)
				}
			}},
		{name: "unknown values are kept and reported", in: `<postacert tipo="boh" errore="grave"><intestazione/><dati><data zona="CET"><giorno>x</giorno></data></dati></postacert>`,
			check: func(t *testing.T, d *Daticert) {
				v := strings.Join(d.Validate(), "|")
				for _, want := range []string{"unknown tipo", "unknown errore", "mittente missing", "destinatari missing", "identificativo missing", "zone"} {
					if !strings.Contains(v, want) {
						t.Errorf("validate lacks %q: %s", want, v)
					}
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse(tc.name, []byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, d)
		})
	}
}

func sampleFull() *Daticert {
	return &Daticert{
		Tipo: AvvenutaConsegna, Errore: Nessuno,
		Mittente:    "protocollo@pec.comune.example.it",
		Destinatari: []Destinatario{{"sdi01@pec.fatturapa.it", Certificato}, {"info@example.it", Esterno}},
		Risposte:    "protocollo@pec.comune.example.it", Oggetto: "IT01234567890_00001.xml & <altro>",
		GestoreEmittente: "Gestore PEC di prova snodo",
		Data:             DataOf(time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))),
		Identificativo:   "opec.20250304.1@pec.example.it", MsgID: "<abc@comune.example.it>",
		Ricevuta: Completa, Consegna: "sdi01@pec.fatturapa.it",
	}
}

func TestMarshalGoldenRoundTripAndDTD(t *testing.T) {
	d := sampleFull()
	out, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join(testdata, "daticert", "avvenuta-consegna.golden.xml")
	if *update {
		if err := os.WriteFile(golden, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(out, want) {
		t.Fatalf("marshal differs from %s:\n%s", golden, out)
	}
	back, err := Parse("roundtrip", out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, d) {
		t.Fatalf("round trip:\n%+v\n%+v", back, d)
	}
	// The DTD of the technical rules is the judge, through xmllint.
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint mancante: installare il pacchetto Debian libxml2-utils (xmllint missing: apt-get install libxml2-utils)")
	}
	for _, tipo := range Tipi {
		d := sampleFull()
		d.Tipo = tipo
		if tipo != AvvenutaConsegna {
			d.Ricevuta, d.Consegna = "", ""
		}
		if tipo == PresaInCarico {
			d.Ricezione = []string{"sdi01@pec.fatturapa.it"}
		}
		if tipo == ErroreConsegna {
			d.Errore, d.Consegna, d.ErroreEsteso = NoDest, "x@pec.example.it", "5.1.1 - Gestore - indirizzo non valido"
		}
		b, err := d.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "daticert.xml")
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(xmllint, "--noout", "--nonet", "--dtdvalid", filepath.Join(testdata, "daticert", "daticert-xml-schema.dtd"), f)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("tipo %s: xmllint refuses our daticert: %v\n%s\n%s", tipo, err, msg, b)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"accettazione.eml", "consegna.eml", "email_2.eml", "email_3.eml"} {
		f.Add(fromSample(f, s))
	}
	b, _ := sampleFull().Marshal()
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		_ = d.Validate()
		_, _ = d.Time()
		if _, err := d.Marshal(); err != nil {
			// Values read from XML are always representable.
			t.Fatalf("marshal of parsed daticert: %v", err)
		}
	})
}
