package c14n

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// documents exercise what canonicalization gets wrong most often.
var documents = map[string]string{
	"pis-comments-ns": "<?xml version=\"1.0\"?>\n<?pi  data  ?>\n<!-- c -->\n" +
		"<r xmlns=\"u:d\" xmlns:b=\"u:b\" xmlns:a=\"u:a\" b:z=\"1\" a:y=\"2\" z=\"3\" >\r\n" +
		"<x xmlns=\"\" t=\"a\tb&#9;c\"/><!--in--><a:q xmlns:a=\"u:a\" xmlns:b=\"u:b2\">&#13;&lt;t&gt; ]]&gt;<![CDATA[<cd>]]></a:q></r>\n<?post?>\n",
	"attr-order-by-uri": `<r xmlns:z="http://a" xmlns:a="http://z"><e a:k="1" z:k="2" z:b="3" b="4" a:a="5"/></r>`,
	"multiline-attr":    "<r xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"http://x\r\n   x.xsd\n\tend\" v='a&#10;b&#13;c'>t\r\nu\rv</r>",
	"escapes":           `<r a="&quot;&apos;&lt;&gt;&amp;'" b='"'>&amp;&lt;&gt;"'&#x20AC;€ è</r>`,
	"xml-attrs":         `<r xml:lang="it" xml:space="preserve"><a xml:lang="en">  x  </a><b/></r>`,
	"default-ns": `<r xmlns="u:1"><a xmlns="u:2"><b xmlns="u:1"><c xmlns=""><d xmlns=""/></c></b></a>` +
		`<e xmlns="u:1"/><p:f xmlns:p="u:p" xmlns="u:1"/></r>`,
	"exclusive-visibility": `<n0:local xmlns:n0="foo:bar" xmlns:n3="ftp://example.org" xmlns:unused="u:u">` +
		`<n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"/>` +
		`<n1:x n3:attr="v"/></n1:elem2></n0:local>`,
	"empty-and-pi-inside": `<r><?in x?><a></a><b/><c> </c></r>`,
}

func parse(t testing.TB, s string) *etree.Document {
	t.Helper()
	doc, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return doc
}

func canonical(t testing.TB, doc *etree.Document, o Options) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteDocument(&b, doc, o); err != nil {
		t.Fatalf("WriteDocument: %v", err)
	}
	return b.String()
}

func xmllint(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint not found: install the Debian package libxml2-utils (apt-get install libxml2-utils)")
	}
	return p
}

// TestDocumentsMatchLibxml2 compares whole-document canonical forms (with comments, the
// only mode xmllint offers) with libxml2's, for every method.
func TestDocumentsMatchLibxml2(t *testing.T) {
	lint := xmllint(t)
	dir := t.TempDir()
	files := map[string]string{}
	for name, doc := range documents {
		p := filepath.Join(dir, name+".xml")
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		files[name] = p
	}
	samples, _ := filepath.Glob("../../../testdata/signature/samples/*.xml")
	if len(samples) == 0 {
		t.Fatal("no samples in testdata/signature/samples")
	}
	for _, s := range samples {
		files[filepath.Base(s)] = s
	}
	methods := []struct {
		flag string
		o    Options
	}{
		{"--c14n", Options{Method: C14N10, Comments: true}},
		{"--c14n11", Options{Method: C14N11, Comments: true}},
		{"--exc-c14n", Options{Method: Exclusive, Comments: true}},
	}
	for name, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		doc := parse(t, string(data))
		for _, m := range methods {
			t.Run(name+m.flag, func(t *testing.T) {
				want, err := exec.Command(lint, m.flag, path).Output()
				if err != nil {
					t.Fatalf("xmllint %s %s: %v", m.flag, path, err)
				}
				if got := canonical(t, doc, m.o); got != string(want) {
					t.Errorf("canonical form differs from libxml2\n got: %q\nwant: %q", got, want)
				}
			})
		}
	}
}

func TestWithoutComments(t *testing.T) {
	doc := parse(t, "<!--a--><?p?><r><!--b-->x<s/></r><!--c-->")
	for _, m := range []Method{C14N10, C14N11, Exclusive} {
		if got, want := canonical(t, doc, Options{Method: m}), "<?p?>\n<r>x<s></s></r>"; got != want {
			t.Errorf("method %d: got %q, want %q", m, got, want)
		}
	}
}

// TestSubtree checks a document subset whose apex has ancestors, using the example of
// the Exclusive XML Canonicalization recommendation (section 2.2).
func TestSubtree(t *testing.T) {
	doc := parse(t, `<n0:local xmlns:n0="foo:bar" xmlns:n3="ftp://example.org" xml:lang="it" xml:base="b/">`+
		`<n1:elem2 xmlns:n1="http://example.net" xml:space="preserve"><n3:stuff xmlns:n3="ftp://example.org"/></n1:elem2></n0:local>`)
	el := doc.FindElement("//elem2")
	cases := []struct {
		o    Options
		want string
	}{
		{Options{Method: C14N10}, `<n1:elem2 xmlns:n0="foo:bar" xmlns:n1="http://example.net" xmlns:n3="ftp://example.org" xml:base="b/" xml:lang="it" xml:space="preserve"><n3:stuff></n3:stuff></n1:elem2>`},
		{Options{Method: C14N11}, `<n1:elem2 xmlns:n0="foo:bar" xmlns:n1="http://example.net" xmlns:n3="ftp://example.org" xml:lang="it" xml:space="preserve"><n3:stuff></n3:stuff></n1:elem2>`},
		{Options{Method: Exclusive}, `<n1:elem2 xmlns:n1="http://example.net" xml:space="preserve"><n3:stuff xmlns:n3="ftp://example.org"></n3:stuff></n1:elem2>`},
		{Options{Method: Exclusive, InclusivePrefixes: []string{"n0", "#default"}}, `<n1:elem2 xmlns:n0="foo:bar" xmlns:n1="http://example.net" xml:space="preserve"><n3:stuff xmlns:n3="ftp://example.org"></n3:stuff></n1:elem2>`},
	}
	for _, c := range cases {
		var b bytes.Buffer
		if err := WriteElement(&b, el, c.o); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("%+v:\n got: %s\nwant: %s", c.o, b.String(), c.want)
		}
	}
}

func TestExclude(t *testing.T) {
	doc := parse(t, `<r xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><a>1</a><ds:Signature><x/></ds:Signature>`+"\n"+`<b><ds:Signature/></b></r>`)
	o := Options{Method: Exclusive, Exclude: func(e *etree.Element) bool { return e.Tag == "Signature" }}
	if got, want := canonical(t, doc, o), "<r><a>1</a>\n<b></b></r>"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	o.Method = C14N10
	if got, want := canonical(t, doc, o), `<r xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><a>1</a>`+"\n<b></b></r>"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseRefuses(t *testing.T) {
	for name, doc := range map[string]string{
		"two roots":        `<a/><b/>`,
		"text outside":     `<a/>x`,
		"repeated attr":    `<a x="1" x="2"/>`,
		"unclosed":         `<a><b></a>`,
		"empty":            ``,
		"too deep":         strings.Repeat("<a>", MaxDepth+2) + strings.Repeat("</a>", MaxDepth+2),
		"bad entity":       `<a>&foo;</a>`,
		"undeclared close": `<a></b>`,
	} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: Parse accepted %q", name, doc)
		}
	}
}

func TestUndeclaredPrefix(t *testing.T) {
	doc := parse(t, `<p:a/>`)
	for _, m := range []Method{C14N10, Exclusive} {
		if err := WriteDocument(&bytes.Buffer{}, doc, Options{Method: m}); err == nil {
			t.Errorf("method %d: undeclared prefix accepted", m)
		}
	}
}

func TestNormalizeAttributesKeepsInputWhenClean(t *testing.T) {
	in := []byte("<a b=\"c d\">\n\t<!-- \"\n\" --><?p \"\t\"?><![CDATA[\"\t\"]]></a>")
	if out := normalizeAttributes(in); &out[0] != &in[0] {
		t.Error("clean input was copied")
	}
	in = []byte("<a b=\"c\r\nd\te\" c='\n'>\"\t\"</a>")
	if got, want := string(normalizeAttributes(in)), "<a b=\"c d e\" c=' '>\"\t\"</a>"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// FuzzCanonical checks that canonicalization never panics and that the canonical form
// of a canonical form is itself (for the inclusive methods, whose output is a document).
func FuzzCanonical(f *testing.F) {
	for _, d := range documents {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data)
		if err != nil {
			return
		}
		for _, m := range []Method{C14N10, C14N11, Exclusive} {
			var b bytes.Buffer
			if err := WriteDocument(&b, doc, Options{Method: m, Comments: true}); err != nil {
				continue
			}
			if m == Exclusive {
				continue
			}
			doc2, err := Parse(b.Bytes())
			if err != nil {
				t.Fatalf("canonical form does not parse: %v\n%q", err, b.String())
			}
			var b2 bytes.Buffer
			if err := WriteDocument(&b2, doc2, Options{Method: m, Comments: true}); err != nil {
				t.Fatal(err)
			}
			if b.String() != b2.String() {
				t.Fatalf("not idempotent:\n%q\n%q", b.String(), b2.String())
			}
		}
	})
}

// TestMatchesGoxmldsig compares the canonical form of each sample's root element with
// goxmldsig's canonicalizers (which this package replaces), where theirs is right: no
// ancestors, no element with two prefixed attributes.
func TestMatchesGoxmldsig(t *testing.T) {
	samples, _ := filepath.Glob("../../../testdata/signature/samples/*.xml")
	for _, s := range samples {
		data, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		doc := parse(t, string(data))
		for _, c := range []struct {
			o      Options
			theirs dsig.Canonicalizer
		}{
			{Options{Method: Exclusive}, dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")},
			{Options{Method: C14N10}, dsig.MakeC14N10RecCanonicalizer()},
			{Options{Method: C14N11, Comments: true}, dsig.MakeC14N11WithCommentsCanonicalizer()},
		} {
			var b bytes.Buffer
			if err := WriteElement(&b, doc.Root(), c.o); err != nil {
				t.Fatal(err)
			}
			want, err := c.theirs.Canonicalize(doc.Root().Copy())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("%s, %s: differs from goxmldsig", filepath.Base(s), c.theirs.Algorithm())
			}
		}
	}
}
