package xslt

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"snodo/pkg/xmlsafe"
	sdixsl "snodo/xsl/sdi"
)

// FuzzTransform feeds arbitrary documents to the official invoice stylesheet: never a
// panic or a crash, always one of the documented outcomes.
func FuzzTransform(f *testing.F) {
	for _, pattern := range []string{"invoices/*.xml", "notifications/sdi-official/*.xml"} {
		names, _ := filepath.Glob(filepath.Join(samples, pattern))
		for _, name := range names {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	for _, s := range []string{"<a>\n<b></a>", "<p:a/>", "<a>&x;</a>", `<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`, "<a>\xe0</a>"} {
		f.Add([]byte(s))
	}
	s := official(f, sdixsl.FatturaPA)
	f.Fuzz(func(t *testing.T, doc []byte) {
		out, err := s.Transform("fuzz.xml", doc, map[string]string{"p": "v"})
		var (
			pe *ParseError
			te *TransformError
			xe *xmlsafe.Error
		)
		switch {
		case err == nil:
			if len(out) == 0 {
				t.Fatal("no error and no output")
			}
		case errors.As(err, &pe), errors.As(err, &te), errors.As(err, &xe):
		default:
			t.Fatalf("undocumented outcome %T: %v", err, err)
		}
	})
}
