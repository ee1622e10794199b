package xmltree

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sampleDir = "../../../testdata/fatturapa/samples"

func TestParseTreeAndLines(t *testing.T) {
	doc := "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" +
		"<!-- intestazione -->\n" +
		"<p:FatturaElettronica versione=\"FPA12\" xmlns:p=\"urn:x\">\n" +
		"  <Header>\n" +
		"    <Numero> 12 &amp; 13 </Numero>\n" +
		"    <Vuoto/>\n" +
		"    <Dati><![CDATA[<non markup>]]></Dati>\n" +
		"  </Header>\n" +
		"  <Body><Riga>1</Riga><Riga>2&#x41;&#66;</Riga></Body>\n" +
		"  <Body/>\n" +
		"</p:FatturaElettronica>\n"
	d, err := Parse("t.xml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	r := d.Root
	if r.Name != "FatturaElettronica" || r.Prefix != "p" || r.Line != 3 {
		t.Fatalf("root = %s:%s line %d", r.Prefix, r.Name, r.Line)
	}
	if v, _ := r.Attr("versione"); v != "FPA12" {
		t.Errorf("versione = %q", v)
	}
	if ns := r.Namespace(); ns != "urn:x" {
		t.Errorf("namespace = %q", ns)
	}
	cases := []struct {
		path, text, where string
		line              int
	}{
		{"Header/Numero", "12 & 13", "/FatturaElettronica/Header/Numero", 5},
		{"Header/Vuoto", "", "/FatturaElettronica/Header/Vuoto", 6},
		{"Header/Dati", "<non markup>", "/FatturaElettronica/Header/Dati", 7},
		{"Body/Riga", "1", "/FatturaElettronica/Body[1]/Riga[1]", 9},
	}
	for _, c := range cases {
		n := r.Find(c.path)
		if n == nil {
			t.Fatalf("Find(%q) = nil", c.path)
		}
		if n.Text() != c.text || n.Line != c.line || n.Path() != c.where {
			t.Errorf("Find(%q) = text %q line %d path %q; want %q %d %q", c.path, n.Text(), n.Line, n.Path(), c.text, c.line, c.where)
		}
	}
	rows := r.FindAll("Body/Riga")
	if len(rows) != 2 || rows[1].Text() != "2AB" || rows[1].Index() != 2 {
		t.Fatalf("FindAll rows = %d, second %q", len(rows), rows[1].Text())
	}
	bodies := r.FindAll("Body")
	if len(bodies) != 2 || bodies[1].Path() != "/FatturaElettronica/Body[2]" || bodies[1].Line != 10 {
		t.Fatalf("bodies: %d, %q line %d", len(bodies), bodies[1].Path(), bodies[1].Line)
	}
	if r.Find("Header/Manca") != nil || r.Value("Header/Manca") != "" || r.Has("Nope") {
		t.Error("missing path found something")
	}
	if got := r.Find("Header").Text(); got != "" {
		t.Errorf("parent text %q, want blank", got)
	}
}

func TestParseEncodings(t *testing.T) {
	latin := []byte("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>citt\xe0</a>")
	d, err := Parse("l.xml", latin)
	if err != nil {
		t.Fatal(err)
	}
	if d.Root.Text() != "città" || d.Encoding != "ISO-8859-1" {
		t.Errorf("latin-1 text %q", d.Root.Text())
	}
	win := []byte("<?xml version='1.0' encoding='windows-1252'?><a>\x80 5</a>")
	if d, err = Parse("w.xml", win); err != nil || d.Root.Text() != "€ 5" {
		t.Errorf("windows-1252: %v %q", err, d.Root.Text())
	}
	bom := []byte("\xef\xbb\xbf<a>x</a>")
	if d, err = Parse("b.xml", bom); err != nil || d.Root.Text() != "x" {
		t.Errorf("BOM: %v", err)
	}
	crlf := []byte("<a>\r\n<b>x\r\ny\rz</b>\r\n</a>")
	if d, err = Parse("c.xml", crlf); err != nil || d.Root.Value("b") != "x\ny\nz" {
		t.Errorf("CRLF: %v %q", err, d.Root.Value("b"))
	}
}

func TestParseRefusals(t *testing.T) {
	cases := []struct {
		name, doc, want string
		line            int
	}{
		{"doctype", `<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`, "DOCTYPE", 1},
		{"doctype inside", "<a>\n<!DOCTYPE a></a>", "DOCTYPE", 2},
		{"unknown entity", "<a>\n\n&x;</a>", "&x;", 3},
		{"bare ampersand", "<a>AT&T</a>", "&amp;", 1},
		{"mismatch", "<a>\n<b></c></a>", "</c>", 2},
		{"unclosed", "<a><b>text", "non chiuso", 1},
		{"two roots", "<a/><b/>", "dopo la chiusura", 1},
		{"text before root", "hello<a/>", "prima dell'elemento", 1},
		{"no root", "<?xml version=\"1.0\"?>", "radice", 1},
		{"empty", "", "radice", 1},
		{"bad utf8", "<a>\xff</a>", "UTF-8", 1},
		{"control char", "<a>\x01</a>", "0x01", 1},
		{"nul char ref", "<a>&#0;</a>", "&#0;", 1},
		{"surrogate ref", "<a>&#xD800;</a>", "&#xD800;", 1},
		{"unquoted attr", "<a b=c/>", "virgolette", 1},
		{"duplicate attr", `<a b="1" b="2"/>`, "ripetuto", 1},
		{"lt in attr", `<a b="<"/>`, "'<'", 1},
		{"late decl", "<a/><?xml version=\"1.0\"?>", "dichiarazione XML", 1},
		{"cdata end in text", "<a>]]></a>", "]]>", 1},
		{"bad name", "<1a/>", "nome", 1},
		{"utf16 declared", `<?xml version="1.0" encoding="UTF-16"?><a/>`, "UTF-16", 1},
		{"unterminated comment", "<a><!-- x</a>", "commento", 1},
		{"end without start", "</a>", "chiusura", 1},
		{"missing space", `<a b="1"c="2"/>`, "spazio", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("hostile.xml", []byte(c.doc))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse = %v, want *SyntaxError", err)
			}
			if !strings.Contains(se.Msg, c.want) || se.Line != c.line || !strings.HasPrefix(err.Error(), "hostile.xml: riga ") {
				t.Fatalf("error %q (line %d), want it to mention %q at line %d", err, se.Line, c.want, c.line)
			}
		})
	}
}

func TestParseDepthLimit(t *testing.T) {
	doc := strings.Repeat("<a>", MaxDepth+1) + strings.Repeat("</a>", MaxDepth+1)
	if _, err := Parse("deep.xml", []byte(doc)); err == nil || !strings.Contains(err.Error(), "annidamento") {
		t.Fatalf("deep nesting: %v", err)
	}
	ok := strings.Repeat("<a>", MaxDepth) + strings.Repeat("</a>", MaxDepth)
	if _, err := Parse("deep.xml", []byte(ok)); err != nil {
		t.Fatalf("nesting at the limit: %v", err)
	}
}

// TestOfficialSamplesMatchEncodingXML parses every official sample with both parsers.
func TestOfficialSamplesMatchEncodingXML(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(sampleDir, "*.xml"))
	more, _ := filepath.Glob(filepath.Join(sampleDir, "*", "*.xml"))
	files = append(files, more...)
	if len(files) < 8 {
		t.Fatalf("official samples not found in %s (%d files)", sampleDir, len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Parse(filepath.Base(f), data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		want, err := stdTree(data)
		if err != nil {
			t.Fatalf("%s: encoding/xml: %v", f, err)
		}
		if got := dump(d.Root); got != want {
			t.Fatalf("%s: trees differ\n got: %.300s\nwant: %.300s", f, got, want)
		}
	}
}

// dump renders a tree as "name{text|child...}" with trimmed texts.
func dump(n *Node) string {
	var b strings.Builder
	var walk func(*Node)
	walk = func(n *Node) {
		fmt.Fprintf(&b, "%s{%q", n.Name, n.Text())
		for _, a := range n.Attrs {
			if a.Prefix != "xmlns" && !(a.Prefix == "" && a.Name == "xmlns") {
				fmt.Fprintf(&b, " @%s=%q", a.Name, attrNorm(a.Value))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			b.WriteByte('|')
			walk(c)
		}
		b.WriteByte('}')
	}
	walk(n)
	return b.String()
}

// attrNorm maps tabs and line ends to spaces: XML normalises attribute values this
// way, encoding/xml does not.
func attrNorm(v string) string {
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(v)
}

// stdTree renders the same dump from encoding/xml tokens.
func stdTree(data []byte) (string, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("charset %s", label)
	}
	type frame struct {
		name     string
		text     strings.Builder
		attrs    []xml.Attr
		children []string
	}
	var stack []*frame
	var out string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			stack = append(stack, &frame{name: tk.Name.Local, attrs: tk.Attr})
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(tk)
			}
		case xml.EndElement:
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			var b strings.Builder
			fmt.Fprintf(&b, "%s{%q", f.name, strings.Trim(f.text.String(), " \t\r\n"))
			for _, a := range f.attrs {
				if a.Name.Space != "xmlns" && !(a.Name.Space == "" && a.Name.Local == "xmlns") {
					fmt.Fprintf(&b, " @%s=%q", a.Name.Local, attrNorm(a.Value))
				}
			}
			for _, c := range f.children {
				b.WriteByte('|')
				b.WriteString(c)
			}
			b.WriteByte('}')
			if len(stack) == 0 {
				out = b.String()
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, b.String())
			}
		case xml.Directive:
			return "", errors.New("directive")
		}
	}
	if out == "" {
		return "", errors.New("no root")
	}
	return out, nil
}

// FuzzParse checks that Parse never panics and, when both parsers accept a document,
// that it builds the same tree as encoding/xml.
func FuzzParse(f *testing.F) {
	seeds := []string{
		`<a/>`, `<p:a xmlns:p="u" v="1"><b>t&amp;x</b><b/></p:a>`, `<a><![CDATA[x]]>y<!--c--><?pi?></a>`,
		"<a>\r\n<b c='&#x41;\t'>1</b></a>", `<!DOCTYPE a><a/>`, `<a>&#1114111;</a>`, `<a><b></a></b>`,
	}
	if data, err := os.ReadFile(filepath.Join(sampleDir, "IT01234567890_FPA01.xml")); err == nil {
		seeds = append(seeds, string(data))
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse("fuzz.xml", data)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if d.Root == nil {
			t.Fatal("nil root without error")
		}
		for n := d.Root; n != nil; n = next(n) {
			_ = n.Path()
		}
		if bytes.Contains(data, []byte("encoding")) {
			return // encoding/xml needs a charset reader for declared encodings
		}
		want, err := stdTree(data)
		if err != nil {
			return
		}
		if got := dump(d.Root); got != want {
			t.Fatalf("trees differ\n got: %s\nwant: %s", got, want)
		}
	})
}

// next walks the tree in document order.
func next(n *Node) *Node {
	if n.FirstChild != nil {
		return n.FirstChild
	}
	for ; n != nil; n = n.Parent {
		if n.NextSibling != nil {
			return n.NextSibling
		}
	}
	return nil
}

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(sampleDir, "IT01234567890_FPA03.xml"))
	if err != nil {
		b.Skip(err)
	}
	b.Run("xmltree", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := Parse("b.xml", data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-xml-tokens", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			dec := xml.NewDecoder(bytes.NewReader(data))
			for {
				if _, err := dec.RawToken(); err != nil {
					break
				}
			}
		}
	})
}

func TestControlChar(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{"", -1}, {"abc", -1}, {"a\tb\nc\rd", -1}, {"\x01", 0}, {"0123456789\x1f", 10}, {"01234567\x00", 8},
		{"\xc3\xa0\xc3\xa0\xc3\xa0\xc3\xa0\x7f", -1}, {"\x80\x81\x82\x83\x84\x85\x86\x87\x08", 8}, {"        \n       \x0b", 16},
	} {
		if got := controlChar([]byte(c.in)); got != c.want {
			t.Errorf("controlChar(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}
