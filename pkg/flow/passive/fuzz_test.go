package passive

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"snodo/pkg/channel"
	"snodo/pkg/channel/fs"
	"snodo/pkg/flow/flowkit"
	"snodo/pkg/route"
	"snodo/pkg/xsd"
	sdixsd "snodo/xsd/sdi"
)

var (
	fuzzSchemaOnce sync.Once
	fuzzSchema     *xsd.Schema
)

// FuzzVerifyECFile: whatever an ente puts in an EC file, the hub refuses it with a
// reason that names it, or accepts an EC that the schema and its rules accept; never a
// panic or a hang.
func FuzzVerifyECFile(f *testing.F) {
	fuzzSchemaOnce.Do(func() {
		var err error
		if fuzzSchema, err = xsd.Compile(sdixsd.FS, sdixsd.MessaggiTypes); err != nil {
			f.Fatal(err)
		}
	})
	ec, err := os.ReadFile("../../../testdata/sdi/notifications/sdi-official/IT01234567890_11111_EC_001.xml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("IT01234567890_11111_EC_001.xml", ec)
	f.Add("IT01234567890_11111_EC_001.xml", []byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`))
	f.Add("../../etc/passwd_EC_001.xml", ec)
	f.Add("IT01234567890_11111_EC_1.xml", ec)
	f.Add("IT01234567890_11111_EC_001.xml", []byte(strings.Replace(string(ec), "EC01", "EC03", 1)))
	f.Add("IT01234567890_11111_EC_001.xml", []byte{0xff, 0xfe, 0x00})
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		got, oerr := VerifyECFile(fuzzSchema, name, data)
		if (got == nil) == (oerr == nil) {
			t.Fatalf("VerifyECFile(%q): EC %v and refusal %v", name, got, oerr)
		}
		if oerr != nil {
			if oerr.Code == "" || oerr.Reason == "" || !utf8.ValidString(oerr.Code) {
				t.Fatalf("refusal without code or reason: %+v", oerr)
			}
			return
		}
		if err := got.Check(); err != nil {
			t.Fatalf("accepted an EC its own rules refuse: %v", err)
		}
	})
}

// FuzzExamine: whatever file the SdI (or someone posing as it) delivers, the checks
// record what is wrong and plan what follows; never a panic or a hang.
func FuzzExamine(f *testing.F) {
	dir := f.TempDir()
	os.WriteFile(dir+"/a.yaml", []byte(`ente: {id: a, name: Comune A, codice_fiscale: "00000000000", offices: [UFA000]}
passive:
  protocol: {channel: fs, url: "file:///tmp/snodo-fuzz-never-written"}
  deliver: [signed, unwrapped, metadata, rendering]
  prevalidation:
    rules:
      - {id: cig, path: "//CodiceCIG", matches: "[A-Z0-9]{10}", message: "CIG non valido"}
`), 0o644)
	l := &route.Loader{Channels: channel.NewRegistry(fs.Kind()), CheckRules: flowkit.CheckRules}
	routes, err := l.LoadRoutes(dir)
	if err != nil {
		f.Fatal(err)
	}
	x, err := NewExaminer(&route.Config{}, routes, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range []string{"IT01234567890_FPA01.xml", "IT01234567890_FPA03.xml", "IT01234567890_11111.xml.p7m"} {
		data, err := os.ReadFile("../../../testdata/sdi/invoices/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(name, data, "UFA000")
	}
	f.Add("IT01234567890_00001.xml", []byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`), "UFA000")
	f.Add("IT01234567890_00001.zip", []byte("PK\x03\x04"), "")
	f.Fuzz(func(t *testing.T, name string, data []byte, codice string) {
		ex, err := x.Examine(context.Background(), Input{NomeFile: name, Data: data, CodiceDestinatario: codice})
		if err != nil {
			return // the examination could not be completed: the job retries
		}
		if ex.Report == nil {
			t.Fatal("no report")
		}
		if (ex.Ente == nil) == (ex.Unroutable == "") {
			t.Fatalf("ente %v, unroutable %q", ex.Ente, ex.Unroutable)
		}
		for _, d := range ex.EC02 {
			if utf8.RuneCountInString(d.Descrizione) > 255 {
				t.Fatalf("EC02 Descrizione of %d characters", utf8.RuneCountInString(d.Descrizione))
			}
			if _, err := DraftXML("1", d); err != nil {
				t.Fatal(err)
			}
		}
	})
}
