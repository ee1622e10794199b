package snodowsdl_test

import (
	"encoding/xml"
	"io/fs"
	"regexp"
	"strings"
	"testing"
	"time"

	"snodo/pkg/message"
	"snodo/pkg/xsd"
	snodowsdl "snodo/wsdl/snodo"
)

// wsdlDoc is the part of a WSDL 1.1 document the checks read.
type wsdlDoc struct {
	TargetNamespace string `xml:"targetNamespace,attr"`
	Types           struct {
		Imports []struct {
			Namespace string `xml:"namespace,attr"`
			Location  string `xml:"schemaLocation,attr"`
		} `xml:"schema>import"`
	} `xml:"types"`
	Bindings []struct {
		Operations []struct {
			Name   string `xml:"name,attr"`
			Action struct {
				SOAPAction string `xml:"soapAction,attr"`
			} `xml:"operation"`
		} `xml:"operation"`
	} `xml:"binding"`
}

func TestDocumentsAgreeWithConstants(t *testing.T) {
	names, _ := fs.Glob(snodowsdl.FS, "*")
	if len(names) != len(snodowsdl.Schemas)+len(snodowsdl.WSDLs) {
		t.Fatalf("FS holds %d files, constants list %d: %v", len(names), len(snodowsdl.Schemas)+len(snodowsdl.WSDLs), names)
	}
	want := map[string]struct {
		imports map[string]string // namespace → schema file
		actions map[string]string // operation → SOAPAction
	}{
		snodowsdl.EnteRegistrazioneWSDL: {map[string]string{snodowsdl.NSRegistrazioneFattura: snodowsdl.EnteRegistrazioneFattura,
			snodowsdl.NSRegistrazioneNotifica: snodowsdl.EnteRegistrazioneNotifica},
			map[string]string{"RiceviFattura": snodowsdl.ActionRiceviFattura, "RiceviNotifica": snodowsdl.ActionRiceviNotifica}},
		snodowsdl.EnteNotificheAttivaWSDL: {map[string]string{snodowsdl.NSNotificaAttiva: snodowsdl.EnteNotificaAttiva},
			map[string]string{"RiceviNotifica": snodowsdl.ActionRiceviNotifica}},
		snodowsdl.HubFatturaAttivaWSDL: {map[string]string{snodowsdl.NSFatturaAttiva: snodowsdl.HubFatturaAttiva},
			map[string]string{"RiceviFileCA": snodowsdl.ActionRiceviFileCA}},
		snodowsdl.HubEsitoCommittenteWSDL: {map[string]string{snodowsdl.NSEsitoCommittente: snodowsdl.HubEsitoCommittente},
			map[string]string{"riceviEsitoFattura": snodowsdl.ActionRiceviEsitoFattura}},
	}
	for _, name := range snodowsdl.WSDLs {
		data, err := fs.ReadFile(snodowsdl.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		var d wsdlDoc
		if err := xml.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		w := want[name]
		if len(d.Types.Imports) != len(w.imports) {
			t.Errorf("%s imports %d schemas, want %d", name, len(d.Types.Imports), len(w.imports))
		}
		for _, imp := range d.Types.Imports {
			if w.imports[imp.Namespace] != imp.Location {
				t.Errorf("%s imports %s from %q, want %q", name, imp.Namespace, imp.Location, w.imports[imp.Namespace])
			}
		}
		got := map[string]string{}
		for _, b := range d.Bindings {
			for _, op := range b.Operations {
				got[op.Name] = op.Action.SOAPAction
			}
		}
		if len(got) != len(w.actions) {
			t.Errorf("%s binds %v, want %v", name, got, w.actions)
		}
		for op, a := range w.actions {
			if got[op] != a {
				t.Errorf("%s: operation %s has SOAPAction %q, want %q", name, op, got[op], a)
			}
		}
	}
}

func TestSchemasCompile(t *testing.T) {
	for _, name := range snodowsdl.Schemas {
		s, err := xsd.Compile(snodowsdl.FS, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s.Close()
	}
}

var ricevutaShape = regexp.MustCompile(`^IntermediaMarche_[a-f0-9]{32}_\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$`)

func TestRicevutaRoundTrip(t *testing.T) {
	for i := 0; i < 200; i++ {
		id := message.NewID()
		r, err := snodowsdl.RicevutaFromMessageID(string(id))
		if err != nil {
			t.Fatal(err)
		}
		if !ricevutaShape.MatchString(r) {
			t.Fatalf("%s: %q does not match the contract pattern", id, r)
		}
		back, ok := snodowsdl.MessageIDFromRicevuta(r)
		if !ok || back != string(id) {
			t.Fatalf("%s → %s → %q %v", id, r, back, ok)
		}
		again, _ := snodowsdl.RicevutaFromMessageID(string(id))
		if again != r {
			t.Fatalf("the receipt of %s changed: %s then %s", id, r, again)
		}
	}
	r := snodowsdl.NewRicevuta(time.Date(2026, 1, 31, 9, 5, 7, 0, time.UTC))
	if !ricevutaShape.MatchString(r) || !strings.HasSuffix(r, "_2026-01-31T10:05:07") {
		t.Fatalf("NewRicevuta = %q: want the contract form in Italian time", r)
	}
	for _, bad := range []string{"", "x", "IntermediaMarche_zz", strings.Repeat("a", 60), "snodo_0123456789abcdef0123456789abcdef_2026-01-01T00:00:00"} {
		if id, ok := snodowsdl.MessageIDFromRicevuta(bad); ok {
			t.Errorf("MessageIDFromRicevuta(%q) = %q, want refusal", bad, id)
		}
	}
	for _, bad := range []string{"", "short", "IIIIIIIIIIIIIIIIIIIIIIIIII"} {
		if _, err := snodowsdl.RicevutaFromMessageID(bad); err == nil {
			t.Errorf("RicevutaFromMessageID(%q) accepted", bad)
		}
	}
}

func FuzzMessageIDFromRicevuta(f *testing.F) {
	f.Add("IntermediaMarche_0123456789abcdef0123456789abcdef_2026-01-01T00:00:00")
	f.Add("IntermediaMarche__")
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := snodowsdl.MessageIDFromRicevuta(s)
		if !ok {
			return
		}
		r, err := snodowsdl.RicevutaFromMessageID(id)
		if err != nil {
			t.Fatalf("%q gave id %q that does not make a receipt: %v", s, id, err)
		}
		if r[:len(snodowsdl.RicevutaPrefix)+32] != s[:len(snodowsdl.RicevutaPrefix)+32] {
			t.Fatalf("%q → %q → %q", s, id, r)
		}
	})
}
