package passive

import (
	"os"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

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
