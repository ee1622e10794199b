package xslt

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"snodo/pkg/xmlsafe"
	sdixsl "snodo/xsl/sdi"
)

// The sample documents are shared with package xsd.
const samples = "../xsd/testdata/sdi"

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samples, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func official(t testing.TB, name string) *Stylesheet {
	t.Helper()
	s, err := CompileFS(sdixsl.FS, name)
	if err != nil {
		t.Fatalf("CompileFS(%s): %v", name, err)
	}
	return s
}

func compileTest(t testing.TB, xsl string) *Stylesheet {
	t.Helper()
	s, err := Compile("test.xsl", []byte(xsl))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

func TestCompileOfficial(t *testing.T) {
	for _, name := range []string{sdixsl.FatturaPA, sdixsl.FatturaOrdinaria, sdixsl.AT, sdixsl.DT, sdixsl.EC,
		sdixsl.MC, sdixsl.MT, sdixsl.NE, sdixsl.NS, sdixsl.RC, sdixsl.SE} {
		s := official(t, name)
		if s.Name() != name {
			t.Errorf("Name() = %q", s.Name())
		}
		s.Close()
	}
}

// TestInvoiceHTML renders official invoices with the official stylesheets: the HTML names
// the supplier and every invoice number of the file.
func TestInvoiceHTML(t *testing.T) {
	cases := []struct {
		xsl, file string
		want      []string
	}{
		{sdixsl.FatturaPA, "invoices/IT01234567890_FPA01.xml", []string{"ALPHA SRL", "AMMINISTRAZIONE BETA", "123"}},
		{sdixsl.FatturaPA, "invoices/IT01234567890_FPA03.xml", []string{"ALPHA SRL", ">12<", ">456<"}},
		{sdixsl.FatturaOrdinaria, "invoices/IT01234567890_FPR01.xml", []string{"ALPHA SRL"}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			out, err := official(t, c.xsl).Transform(filepath.Base(c.file), read(t, c.file), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(out, []byte("<!DOCTYPE html")) && !bytes.Contains(out[:min(200, len(out))], []byte("<html")) {
				t.Errorf("not HTML: %.200s", out)
			}
			for _, w := range c.want {
				if !bytes.Contains(out, []byte(w)) {
					t.Errorf("HTML lacks %q", w)
				}
			}
		})
	}
}

func TestMessageHTML(t *testing.T) {
	cases := []struct {
		xsl, file string
		want      []string
	}{
		{sdixsl.RC, "notifications/sdi-official/IT01234567890_11111_RC_001.xml", []string{"111", "IT01234567890_11111.xml.p7m", "<h1>Ricevuta Consegna</h1>"}},
		{sdixsl.NS, "notifications/sdi-official/IT01234567890_11111_NS_001.xml", []string{"111", "00100", "<h1>Notifica Scarto</h1>"}},
		{sdixsl.MC, "notifications/sdi-official/IT01234567890_11111_MC_001.xml", []string{"111", "<h1>Notifica Mancata Consegna</h1>"}},
		{sdixsl.NE, "notifications/sdi-official/IT01234567890_11111_NE_001.xml", []string{"111", "EC01"}},
		{sdixsl.DT, "notifications/sdi-official/IT01234567890_11111_DT_001.xml", []string{"111", "decorrenza termini"}},
		{sdixsl.AT, "notifications/sdi-official/IT01234567890_11111_AT_001.xml", []string{"111"}},
		{sdixsl.SE, "notifications/sdi-official/IT01234567890_11111_SE_001.xml", []string{"111"}},
		{sdixsl.EC, "notifications/sdi-official/IT01234567890_11111_EC_001.xml", []string{"111", "EC01"}},
		{sdixsl.MT, "notifications/sdi-official/IT01234567890_11111_MT_001.xml", []string{"111", "IT01234567890_11111.xml.p7m"}},
	}
	for _, c := range cases {
		t.Run(c.xsl, func(t *testing.T) {
			out, err := official(t, c.xsl).Transform(filepath.Base(c.file), read(t, c.file), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !bytes.Contains(bytes.ToLower(out), bytes.ToLower([]byte(w))) {
					t.Errorf("HTML lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestParams(t *testing.T) {
	s := compileTest(t, `<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:output method="text"/>
<xsl:param name="ente" select="'nessuno'"/><xsl:param name="n"/>
<xsl:template match="/">[<xsl:value-of select="$ente"/>|<xsl:value-of select="$n"/>|<xsl:value-of select="a"/>]</xsl:template>
</xsl:stylesheet>`)
	cases := []struct {
		params map[string]string
		want   string
	}{
		{nil, "[nessuno||x]"},
		{map[string]string{"ente": "Comune di Ancona"}, "[Comune di Ancona||x]"},
		// Values are strings, never XPath: quotes and expressions come out verbatim.
		{map[string]string{"ente": `l'ente "A"`, "n": "1+1"}, `[l'ente "A"|1+1|x]`},
		{map[string]string{"ente": "/a", "unknown": "ignored"}, "[/a||x]"},
	}
	for _, c := range cases {
		out, err := s.Transform("a.xml", []byte("<a>x</a>"), c.params)
		if err != nil {
			t.Fatalf("%v: %v", c.params, err)
		}
		if string(out) != c.want {
			t.Errorf("%v: %q, want %q", c.params, out, c.want)
		}
	}
	for _, bad := range []map[string]string{{"": "x"}, {"a b": "x"}, {"a": "x\x00y"}} {
		if _, err := s.Transform("a.xml", []byte("<a/>"), bad); err == nil {
			t.Errorf("params %q accepted", bad)
		}
	}
}

// TestNoAccess: stylesheets cannot read files or the network, write files or create
// directories, at compile time or at run time.
func TestNoAccess(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "<leak>network</leak>")
	}))
	defer srv.Close()
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.xml")
	if err := os.WriteFile(secret, []byte("<s>TOPSECRET</s>"), 0o600); err != nil {
		t.Fatal(err)
	}
	const head = `<xsl:stylesheet version="1.1" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:exsl="http://exslt.org/common" extension-element-prefixes="exsl">`
	run := map[string]string{
		"document file URL":      `<xsl:template match="/"><r><xsl:copy-of select="document('file://` + secret + `')"/></r></xsl:template>`,
		"document /etc/passwd":   `<xsl:template match="/"><r><xsl:copy-of select="document('file:///etc/passwd')"/></r></xsl:template>`,
		"document absolute path": `<xsl:template match="/"><r><xsl:copy-of select="document('` + secret + `')"/></r></xsl:template>`,
		"document network":       `<xsl:template match="/"><r><xsl:copy-of select="document('` + srv.URL + `/x.xml')"/></r></xsl:template>`,
		"document from input":    `<xsl:template match="/"><r><xsl:copy-of select="document(/a/@href)"/></r></xsl:template>`,
		"xsl:document write":     `<xsl:template match="/"><xsl:document href="` + filepath.Join(dir, "out.txt") + `">x</xsl:document><r/></xsl:template>`,
		"xsl:document mkdir":     `<xsl:template match="/"><xsl:document href="` + filepath.Join(dir, "sub", "out.txt") + `">x</xsl:document><r/></xsl:template>`,
		"exsl:document write":    `<xsl:template match="/"><exsl:document href="` + filepath.Join(dir, "out2.txt") + `">x</exsl:document><r/></xsl:template>`,
	}
	input := []byte(`<a href="file://` + secret + `"/>`)
	for name, body := range run {
		t.Run(name, func(t *testing.T) {
			out, err := compileTest(t, head+body+`</xsl:stylesheet>`).Transform("a.xml", input, nil)
			var te *TransformError
			if !errors.As(err, &te) {
				t.Fatalf("want *TransformError, got %v (output %q)", err, out)
			}
			if bytes.Contains(out, []byte("TOPSECRET")) || strings.Contains(err.Error(), "TOPSECRET") || bytes.Contains(out, []byte("root:")) {
				t.Fatal("a file was read")
			}
		})
	}
	compileTime := map[string]string{
		"import file":      `<xsl:import href="file://` + secret + `"/>`,
		"import network":   `<xsl:import href="` + srv.URL + `/x.xsl"/>`,
		"include file":     `<xsl:include href="` + secret + `"/>`,
		"include relative": `<xsl:include href="other.xsl"/>`,
	}
	for name, body := range compileTime {
		t.Run(name, func(t *testing.T) {
			_, err := Compile("test.xsl", []byte(head+body+`</xsl:stylesheet>`))
			var ce *CompileError
			if !errors.As(err, &ce) || ce.Stylesheet != "test.xsl" {
				t.Fatalf("want *CompileError naming test.xsl, got %v", err)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the network was reached %d times", n)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("files were written: %v", entries)
	}
}

// TestCompileFS: xsl:include and xsl:import resolve inside the FS, nowhere else.
func TestCompileFS(t *testing.T) {
	const head = `<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">`
	fsys := fstest.MapFS{
		"x/main.xsl":        {Data: []byte(head + `<xsl:import href="lib/base.xsl"/><xsl:include href="lib/more.xsl"/><xsl:output method="text"/><xsl:template match="/">[<xsl:call-template name="base"/>|<xsl:call-template name="more"/>]</xsl:template></xsl:stylesheet>`)},
		"x/lib/base.xsl":    {Data: []byte(head + `<xsl:template name="base">base</xsl:template></xsl:stylesheet>`)},
		"x/lib/more.xsl":    {Data: []byte(head + `<xsl:include href="../common/c.xsl"/><xsl:template name="more">more-<xsl:call-template name="c"/></xsl:template></xsl:stylesheet>`)},
		"x/common/c.xsl":    {Data: []byte(head + `<xsl:template name="c">c</xsl:template></xsl:stylesheet>`)},
		"x/escape.xsl":      {Data: []byte(head + `<xsl:include href="../../../../etc/passwd"/></xsl:stylesheet>`)},
		"x/missing.xsl":     {Data: []byte(head + `<xsl:include href="nope.xsl"/></xsl:stylesheet>`)},
		"x/doctype.xsl":     {Data: []byte(head + `<xsl:include href="evil.xsl"/></xsl:stylesheet>`)},
		"x/evil.xsl":        {Data: []byte(`<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>` + head + `<xsl:template name="e">&e;</xsl:template></xsl:stylesheet>`)},
		"x/runtime-doc.xsl": {Data: []byte(head + `<xsl:template match="/"><xsl:copy-of select="document('lib/base.xsl')"/></xsl:template></xsl:stylesheet>`)},
	}
	s, err := CompileFS(fsys, "x/main.xsl")
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Transform("a.xml", []byte("<a/>"), nil)
	if err != nil || string(out) != "[base|more-c]" {
		t.Fatalf("Transform: %q, %v", out, err)
	}
	for _, bad := range []string{"x/escape.xsl", "x/missing.xsl", "x/doctype.xsl"} {
		if _, err := CompileFS(fsys, bad); err == nil {
			t.Errorf("CompileFS(%s) compiled", bad)
		} else if !strings.Contains(err.Error(), bad) {
			t.Errorf("CompileFS(%s): error does not name it: %v", bad, err)
		}
	}
	// At run time not even the stylesheet's own FS is readable.
	rd, err := CompileFS(fsys, "x/runtime-doc.xsl")
	if err != nil {
		t.Fatal(err)
	}
	var te *TransformError
	if _, err := rd.Transform("a.xml", []byte("<a/>"), nil); !errors.As(err, &te) || !te.Denied {
		t.Errorf("run-time document() of the FS: want a denied *TransformError, got %v", err)
	}
	if _, err := CompileFS(fsys, "../x/main.xsl"); err == nil {
		t.Error("invalid path accepted")
	}
}

func TestBadInput(t *testing.T) {
	s := compileTest(t, `<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:template match="/"><r/></xsl:template></xsl:stylesheet>`)
	var pe *ParseError
	if _, err := s.Transform("bad.xml", []byte("<a>\n<b></a>"), nil); !errors.As(err, &pe) || pe.Line != 2 || pe.Name != "bad.xml" ||
		!strings.Contains(pe.Message, "Opening and ending tag mismatch") {
		t.Errorf("malformed: %v", err)
	}
	doc := []byte(`<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>`)
	if _, err := s.Transform("evil.xml", doc, nil); !errors.Is(err, xmlsafe.ErrDoctype) {
		t.Errorf("DOCTYPE through the gate: %v", err)
	}
	if _, err := s.transform("evil.xml", doc, nil); !errors.As(err, &pe) || !pe.DTD {
		t.Errorf("DOCTYPE past the gate: %v", err)
	}
	if _, err := Compile("bad.xsl", []byte("<xsl:stylesheet")); err == nil || !strings.Contains(err.Error(), "bad.xsl") {
		t.Errorf("malformed stylesheet: %v", err)
	}
	if _, err := Compile("notxsl.xsl", []byte("<a/>")); err == nil {
		t.Error("a non-stylesheet compiled")
	}
	if _, err := Compile("evil.xsl", doc); !errors.Is(err, xmlsafe.ErrDoctype) {
		t.Errorf("stylesheet with DOCTYPE: %v", err)
	}
}

func TestTerminate(t *testing.T) {
	s := compileTest(t, `<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:template match="/"><xsl:if test="not(a/b)"><xsl:message terminate="yes">manca b (b is missing)</xsl:message></xsl:if><ok/></xsl:template></xsl:stylesheet>`)
	if out, err := s.Transform("a.xml", []byte("<a><b/></a>"), nil); err != nil || !bytes.Contains(out, []byte("<ok/>")) {
		t.Fatalf("%q %v", out, err)
	}
	_, err := s.Transform("a.xml", []byte("<a/>"), nil)
	var te *TransformError
	if !errors.As(err, &te) || te.Denied || !strings.Contains(err.Error(), "manca b (b is missing)") {
		t.Fatalf("want *TransformError with the message, got %v", err)
	}
}

func TestClose(t *testing.T) {
	s := compileTest(t, `<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:template match="/"><r/></xsl:template></xsl:stylesheet>`)
	s.Close()
	s.Close()
	if _, err := s.Transform("a.xml", []byte("<a/>"), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestConcurrent shares one stylesheet among many goroutines, each result equal to the
// one computed alone.
func TestConcurrent(t *testing.T) {
	s := official(t, sdixsl.FatturaPA)
	docs := [][]byte{read(t, "invoices/IT01234567890_FPA01.xml"), read(t, "invoices/IT01234567890_FPA03.xml"), read(t, "invoices/IT01234567890_FPA02.xml")}
	want := make([][]byte, len(docs))
	for i, d := range docs {
		var err error
		if want[i], err = s.Transform("d.xml", d, nil); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range 25 {
				i := (g + r) % len(docs)
				got, err := s.Transform("d.xml", docs[i], nil)
				if err != nil || !bytes.Equal(got, want[i]) {
					errs <- fmt.Sprintf("goroutine %d doc %d: differs (%v)", g, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("long loop")
	}
	s := official(t, sdixsl.FatturaPA)
	doc := read(t, "invoices/IT01234567890_FPA03.xml")
	bad := compileTest(t, `<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:template match="/"><xsl:copy-of select="document('file:///etc/passwd')"/></xsl:template></xsl:stylesheet>`)
	loop := func(n int) {
		for range n {
			_, _ = s.Transform("d.xml", doc, map[string]string{"p": "v"})
			_, _ = bad.Transform("d.xml", doc, nil)
			_, _ = s.Transform("d.xml", []byte("<a>\n<b></a>"), nil)
		}
	}
	loop(500)
	before := rss(t)
	loop(4000)
	after := rss(t)
	t.Logf("RSS %d KiB -> %d KiB after 4000 rounds", before/1024, after/1024)
	// A leaked result (16 KB of HTML plus its tree) per round would be well over 100 MB.
	if after-before > 16<<20 {
		t.Errorf("RSS grew by %d KiB", (after-before)/1024)
	}
}

func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm")
	}
	pages, err := strconv.ParseInt(strings.Fields(string(b))[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}
