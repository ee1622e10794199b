package xmlsafe

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		max  int64
		want error
	}{
		{"plain", `<a/>`, 0, nil},
		{"declaration and PI", "\ufeff<?xml version=\"1.0\"?>\n<?xml-stylesheet href=\"x.xsl\"?>\n<!-- c --><a/>", 0, nil},
		{"doctype", `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`, 0, ErrDoctype},
		{"doctype lower case", `<!doctype a SYSTEM "http://evil/x.dtd"><a/>`, 0, ErrDoctype},
		{"entity alone", `<!ENTITY x "y"><a/>`, 0, ErrDoctype},
		{"doctype after comment", `<!-- x --><!DOCTYPE a><a/>`, 0, ErrDoctype},
		{"empty", "  \n", 0, ErrEmpty},
		{"not xml", `{"a":1}`, 0, ErrNotXML},
		{"utf16", "\xff\xfe<\x00a\x00/\x00>\x00", 0, ErrNotXML},
		{"too large", `<a>0123456789</a>`, 10, ErrTooLarge},
		{"unterminated PI", `<?xml version="1.0"`, 0, ErrNotXML},
		{"unterminated comment", `<!-- x`, 0, ErrNotXML},
		{"only prolog", `<?xml version="1.0"?>`, 0, ErrNotXML},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Check("fattura.xml", []byte(c.doc), c.max)
			if c.want == nil {
				if err != nil {
					t.Fatalf("Check: %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("Check: %v, want %v", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "fattura.xml: ") {
				t.Fatalf("error %q does not name the input", err)
			}
		})
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{`<a/>`, `<!DOCTYPE a><a/>`, `<?x`, `<!--`, "\ufeff<a/>"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := Check("fuzz", b, 1<<20)
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("error of unexpected type %T", err)
		}
	})
}

func TestDeclaration(t *testing.T) {
	for _, ok := range []string{
		`<a/>`, `<?xml version="1.0"?><a/>`, `<?xml version='1.0' encoding='UTF-8'?><a/>`,
		"\ufeff<?xml version=\"1.0\" encoding=\"ISO-8859-1\" standalone=\"yes\" ?>\n<a/>",
		`<?xml-stylesheet href="x.xsl"?><a/>`, `<?xml version = "1.1"?><a/>`,
	} {
		if err := Declaration("f.xml", []byte(ok)); err != nil {
			t.Errorf("Declaration(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{
		"<?xml version=\"1.0\" encodine\xbf\xde=\"UTF-8\"?><a/>",
		`<?xml encoding="UTF-8"?><a/>`, `<?xml version="2.0"?><a/>`, `<?xml version="1.0"encoding="UTF-8"?><a/>`,
		`<?xml version="1.0" standalone="maybe"?><a/>`, `<?xml version="1.0" standalone="yes" encoding="UTF-8"?><a/>`,
		`<?xml version=1.0?><a/>`, `<?xml version="1.0`, `<?xml?><a/>`, `<?xml version="1.0" encoding="8bit"?><a/>`,
	} {
		if err := Declaration("f.xml", []byte(bad)); !errors.Is(err, ErrDeclaration) {
			t.Errorf("Declaration(%q) = %v, want ErrDeclaration", bad, err)
		}
	}
}

func FuzzDeclaration(f *testing.F) {
	for _, s := range []string{`<?xml version="1.0"?>`, `<?xml version='1.0' encoding='x' standalone='no'?>`, `<?xml`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { Declaration("fuzz", b) })
}
