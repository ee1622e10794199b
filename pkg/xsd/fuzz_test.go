package xsd

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"snodo/pkg/xmlsafe"
	sdixsd "snodo/xsd/sdi"
)

// FuzzValidate feeds arbitrary documents to the FatturaPA schema: never a panic or a
// crash, always one of the documented outcomes, and violation lists within the bound.
func FuzzValidate(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(samples, "*", "*.xml"))
	more, _ := filepath.Glob(filepath.Join(samples, "*", "*", "*.xml"))
	for _, name := range append(files, more...) {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, 5)
	}
	for _, s := range []string{"<a>\n<b></a>", "<p:a/>", "<a>&x;</a>", `<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`, "<a>\xe0</a>", ""} {
		f.Add([]byte(s), 1)
	}
	s := sdiSchema(f, sdixsd.FatturaPA123)
	f.Fuzz(func(t *testing.T, doc []byte, max int) {
		max = max%60 + 1
		if max < 1 {
			max = -max + 1
		}
		err := s.Validate("fuzz.xml", doc, max)
		var (
			ve *ValidationError
			pe *ParseError
			xe *xmlsafe.Error
		)
		switch {
		case err == nil:
		case errors.As(err, &ve):
			if len(ve.Violations) == 0 || len(ve.Violations) > max {
				t.Fatalf("%d violations with max %d", len(ve.Violations), max)
			}
			if ve.Truncated && len(ve.Violations) != max {
				t.Fatalf("truncated with %d violations, max %d", len(ve.Violations), max)
			}
			for _, v := range ve.Violations {
				if v.Message == "" || v.Line < 0 {
					t.Fatalf("bad violation %+v", v)
				}
			}
		case errors.As(err, &pe):
			if pe.Message == "" || pe.Line < 0 {
				t.Fatalf("bad parse error %+v", pe)
			}
		case errors.As(err, &xe):
		default:
			t.Fatalf("undocumented outcome %T: %v", err, err)
		}
	})
}

// FuzzValidateNoGate bypasses xmlsafe, so libxml2 itself meets DTDs and entity tricks:
// they must end in a *ParseError, never in an expansion, a load or a crash.
func FuzzValidateNoGate(f *testing.F) {
	for _, s := range []string{
		`<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`,
		`<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>`,
		`<!DOCTYPE a SYSTEM "http://127.0.0.1:1/a.dtd"><a/>`,
		`<!DOCTYPE a [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><a/>`,
		`<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;">]><l>&c;</l>`,
		"<a>\n<b></a>",
	} {
		f.Add([]byte(s))
	}
	s := sdiSchema(f, sdixsd.FatturaPA123)
	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(doc) == 0 {
			return
		}
		err := s.validate("fuzz.xml", doc, 10)
		var (
			ve *ValidationError
			pe *ParseError
		)
		if err != nil && !errors.As(err, &ve) && !errors.As(err, &pe) {
			t.Fatalf("undocumented outcome %T: %v", err, err)
		}
	})
}
