package batch

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzParseQuadratura checks the reader against the official schema: whatever the
// reader accepts, the XSD must accept too, and the values it returns must be in range.
func FuzzParseQuadratura(f *testing.F) {
	f.Add([]byte(goodQuad))
	f.Add([]byte(quadFor("FO.01234567890.2025031.0920.001.zip", Counts{1, 2, 3})))
	f.Add([]byte(strings.Replace(goodQuad, "UTF-8", "ISO-8859-1", 1)))
	f.Add([]byte(`<ns:FileQuadraturaFTP xmlns:ns="http://www.fatturapa.it/sdi/ftp/v1.0" versione="1.2"/>`))
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>`))
	schema := ftpSchema(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := ParseQuadratura("fuzz.xml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.xml") {
				t.Fatalf("error does not name the input: %v", err)
			}
			return
		}
		if xerr := schema.Validate("fuzz.xml", data, 3); xerr != nil {
			t.Fatalf("reader accepts a document the XSD refuses: %v\n%q", xerr, data)
		}
		if len(q.IdentificativoNodo) != 11 || q.NomeSupporto == "" || len(q.NomeSupporto) > MaxNomeSupporto {
			t.Fatalf("accepted out-of-range values: %+v", q)
		}
		for _, n := range q.NumeroFile {
			if n < 0 {
				t.Fatalf("negative counter accepted: %+v", q)
			}
		}
	})
}

// FuzzParseEsito checks the outcome reader never panics and that what it accepts
// marshals again into a document it accepts.
func FuzzParseEsito(f *testing.F) {
	e := &Esito{IdentificativoNodo: "01234567890", DataOraRicezione: time.Now(), DataOraEsito: time.Now(),
		NomeSupporto: "FI.01234567890.2025031.1030.001.zip", Esito: ET02, Motivi: []string{"motivo -- uno"}}
	good, _ := e.Marshal()
	f.Add(good)
	f.Add([]byte(goodQuad))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseEsito("EO.fuzz.xml", data)
		if err != nil {
			return
		}
		again, err := got.Marshal()
		if err != nil {
			t.Fatalf("accepted outcome does not marshal: %v (%+v)", err, got)
		}
		if _, err := ParseEsito("again", again); err != nil {
			t.Fatalf("re-marshalled outcome refused: %v\n%s", err, again)
		}
	})
}

// FuzzCheck feeds arbitrary bytes to the zip checker: it must refuse with a *Refusal or
// accept a zip whose files all read within the limits and whose counts match.
func FuzzCheck(f *testing.F) {
	const nome = "FI.01234567890.2025031.1030.001.zip"
	var one Counts
	one[Fatture] = 1
	f.Add(zipOf(f, [2]string{"IT01234567890_00001.xml", "<f/>"}, [2]string{"FI.01234567890.2025031.1030.001.xml", quadFor(nome, one)}))
	f.Add(zipOf(f, [2]string{"../x", "x"}))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Add([]byte{})
	lim := Limits{MaxEntries: 50, MaxEntrySize: 1 << 16, MaxTotal: 1 << 18}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Check(nome+DoneSuffix, bytes.NewReader(data), int64(len(data)), lim)
		if err != nil {
			var ref *Refusal
			if !errors.As(err, &ref) || len(ref.Reasons) == 0 {
				t.Fatalf("error is not a Refusal with reasons: %v", err)
			}
			return
		}
		var got Counts
		for _, f := range c.Files {
			d, err := f.ReadAll()
			if err != nil || int64(len(d)) > lim.MaxEntrySize {
				t.Fatalf("accepted entry %s unreadable or too large: %v", f.Name, err)
			}
			if err := CheckEntryName(f.Name); err != nil {
				t.Fatalf("accepted hostile entry name: %v", err)
			}
			got.Add(f.Type)
		}
		if got != c.Quadratura.NumeroFile {
			t.Fatalf("accepted zip whose counts differ from its quadratura: %v vs %v", got, c.Quadratura.NumeroFile)
		}
	})
}

// FuzzParseName checks the supporto name parser and the outcome name it leads to.
func FuzzParseName(f *testing.F) {
	f.Add("FI.01234567890.2025031.1030.001.zip.done")
	f.Add("FO.X.20255.97.1.zip")
	f.Add("../../FI.x.1.1.1.zip")
	f.Fuzz(func(t *testing.T, name string) {
		s, err := ParseName(name)
		if err != nil {
			return
		}
		if strings.ContainsAny(s.CF, "/\\.") {
			t.Fatalf("CF with separators accepted: %q", s.CF)
		}
		if eo := EsitoName(name); !strings.HasPrefix(eo, "EO") || !strings.HasSuffix(eo, ".xml") || strings.ContainsAny(eo, "/\\") {
			t.Fatalf("EsitoName(%q) = %q", name, eo)
		}
	})
}
