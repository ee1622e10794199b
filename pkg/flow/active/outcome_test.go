package active

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/message"
	"snodo/pkg/xsd"
	snodowsdl "snodo/wsdl/snodo"
)

func dettaglioSchema(t *testing.T) *xsd.Schema {
	t.Helper()
	s, err := xsd.Compile(snodowsdl.FS, snodowsdl.SnodoDettaglio)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "..", "..", "testdata", "active", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

var sampleTime = time.Date(2026, 1, 31, 9, 20, 30, 123e6, time.UTC)

func TestOutcomeGolden(t *testing.T) {
	cases := []struct {
		file string
		r    *Receipt
	}{
		{"esito-fa00.xml", &Receipt{MessageID: "01kg2x7c8m0000000000000000", RicevutaComunicazione: "IntermediaMarche_0123456789abcdef0123456789abcdef_2026-01-31T10:20:30",
			DataOraRicezione: sampleTime, Codice: FA00, NomeFileOriginale: "fattura 12.xml", NomeFile: "IT80012345676_00012.xml.p7m",
			Messaggio: "fattura controllata: sarà trasmessa allo SdI come IT80012345676_00012.xml.p7m"}},
		{"esito-fa02.xml", &Receipt{MessageID: "01kg2x7c8m0000000000000001", RicevutaComunicazione: "IntermediaMarche_0123456789abcdef0123456789abcdef_2026-01-31T10:20:30",
			DataOraRicezione: sampleTime, Codice: FA02, NomeFileOriginale: "IT80012345676_00013.xml",
			Messaggio: "fattura non inviata allo SdI: 2 errori",
			Errori: []Errore{
				{Codice: "00404", Descrizione: "Fattura duplicata: la fattura numero 13 del 2025 di IT80012345676 è già stata trasmessa", Percorso: "/FatturaElettronica/FatturaElettronicaBody/DatiGenerali/DatiGeneraliDocumento/Numero", Riga: 61},
				{Codice: "00421", Descrizione: "2.2.2.6 <Imposta> non calcolato secondo le regole definite nelle specifiche tecniche & <altro>", Riga: 78},
			}}},
	}
	for _, c := range cases {
		out, err := MarshalOutcome(c.r)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, c.file, out)
		// The Dettaglio is the hub's SOAP header element: valid against its schema.
		i, j := bytes.Index(out, []byte("<Dettaglio")), bytes.Index(out, []byte("</Dettaglio>"))
		if err := dettaglioSchema(t).Validate(c.file, out[i:j+len("</Dettaglio>")], 10); err != nil {
			t.Errorf("%s: Dettaglio not valid against %s: %v", c.file, snodowsdl.SnodoDettaglio, err)
		}
		back, err := ParseOutcome(c.file, out)
		if err != nil {
			t.Fatal(err)
		}
		if back.Codice != c.r.Codice || back.Descrizione != descrizioni[c.r.Codice] || back.NomeFile != c.r.NomeFile ||
			back.NomeFileOriginale != c.r.NomeFileOriginale || back.MessageID != c.r.MessageID || !back.DataOraRicezione.Equal(c.r.DataOraRicezione) ||
			back.RicevutaComunicazione != c.r.RicevutaComunicazione || len(back.Errori) != len(c.r.Errori) || back.Messaggio != c.r.Messaggio {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", c.file, back, c.r)
		}
		for i := range back.Errori {
			if back.Errori[i] != c.r.Errori[i] {
				t.Errorf("%s: error %d: %+v, want %+v", c.file, i, back.Errori[i], c.r.Errori[i])
			}
		}
	}
}

func TestParseOutcome(t *testing.T) {
	// IntermediaMarche's own reply (IM_FE_CA_001.xml) reads too.
	im := `<?xml version="1.0" encoding="UTF-8"?><Response><DataRicezione>2025-01-31T10:20:30.123+01:00</DataRicezione><Codice>FA00</Codice>` +
		`<Descrizione>RICEZIONE AVVENUTA CON SUCCESSO</Descrizione><NomeFile>IT01234567890_00001.xml</NomeFile>` +
		`<RicevutaComunicazione>IntermediaMarche_0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f_2025-01-31T10:20:30</RicevutaComunicazione></Response>`
	r, err := ParseOutcome("IM_FE_CA_001.xml", []byte(im))
	if err != nil || r.Codice != FA00 || r.NomeFileOriginale != "IT01234567890_00001.xml" || r.DataOraRicezione.Year() != 2025 {
		t.Errorf("IntermediaMarche reply: %+v %v", r, err)
	}
	bad := []struct {
		name, doc, want string
	}{
		{"dtd.xml", `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]><Response><Codice>FA00</Codice></Response>`, "DOCTYPE"},
		{"root.xml", `<Altro><Codice>FA00</Codice></Altro>`, "Response"},
		{"code.xml", `<Response><Codice>EN00</Codice></Response>`, "Codice"},
		{"date.xml", `<Response><Codice>FA00</Codice><DataRicezione>ieri</DataRicezione></Response>`, "DataRicezione"},
		{"rotto.xml", `<Response><Codice>FA00</Codice>`, "illeggibile"},
		{"vuoto.xml", ``, "vuoto.xml"},
		{"grande.xml", "<Response>" + strings.Repeat("x", maxOutcomeBytes) + "</Response>", "grande.xml"},
	}
	for _, c := range bad {
		_, err := ParseOutcome(c.name, []byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", c.name, err, c.want)
		}
	}
}

func TestOutcomeName(t *testing.T) {
	id := message.ID("01kg2x7c8m0000000000000000")
	cases := map[string]string{
		"IT80012345676_00012.xml.p7m": "IT80012345676_00012.esito-" + string(id) + ".xml",
		"fattura 12.XML":              "fattura 12.esito-" + string(id) + ".xml",
		"a\x01b.xml":                  "a_b.esito-" + string(id) + ".xml",
		".xml":                        "fattura.esito-" + string(id) + ".xml",
		"..":                          "fattura.esito-" + string(id) + ".xml",
		strings.Repeat("é", 200):      strings.Repeat("é", 75) + ".esito-" + string(id) + ".xml",
	}
	for in, want := range cases {
		m := &message.Message{ID: id, FileName: in}
		if got := outcomeName(m); got != want {
			t.Errorf("outcomeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseOutcome: hostile outcome files never panic, and what parses writes back.
func FuzzParseOutcome(f *testing.F) {
	for _, n := range []string{"esito-fa00.xml", "esito-fa02.xml"} {
		if b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "active", n)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`<Response><Codice>FA00</Codice></Response>`))
	f.Add([]byte(`<Response xmlns:d="urn:snodo:ws:dettaglio:v1"><Codice>FA02</Codice><d:Dettaglio><d:Errore><d:Riga>x</d:Riga></d:Errore></d:Dettaglio></Response>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseOutcome("fuzz.xml", data)
		if err != nil {
			return
		}
		if _, err := MarshalOutcome(r); err != nil && !strings.Contains(err.Error(), "invalid") {
			t.Fatalf("parsed outcome does not write back: %v", err)
		}
	})
}

// FuzzInvoiceBaseOf: any notification name gives a base that is a prefix of it.
func FuzzInvoiceBaseOf(f *testing.F) {
	for _, s := range []string{"IT01234567890_11111_RC_001.xml", "IT01234567890_11111_AT_001.zip", "x_NS_001.xml", "_RC_001.xml", "a/b_RC_001.xml"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		b := invoiceBaseOf(name)
		if b != "" && (!strings.HasPrefix(name, b) || strings.ContainsAny(b, "/\\")) {
			t.Fatalf("invoiceBaseOf(%q) = %q", name, b)
		}
	})
}

// FuzzOutcomeName: whatever name an ente gives, the outcome file's name is a safe file
// name, unique to the message.
func FuzzOutcomeName(f *testing.F) {
	for _, s := range []string{"fattura.xml", "IT01234567890_00001.xml.p7m", "..", "a/b.xml", "\xf9.XML", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		id := message.ID("01kg2x7c8m0000000000000000")
		got := outcomeName(&message.Message{ID: id, FileName: name})
		if err := channel.SafeFileName(got); err != nil || !strings.HasSuffix(got, ".esito-"+string(id)+".xml") {
			t.Fatalf("outcomeName(%q) = %q: %v", name, got, err)
		}
	})
}
