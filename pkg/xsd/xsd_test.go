package xsd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"snodo/pkg/xmlsafe"
	"snodo/pkg/xsd/xsdtest"
	sdixsd "snodo/xsd/sdi"
)

const samples = "testdata/sdi"

var (
	schemaOnce  sync.Map // main -> *Schema
	compileLock sync.Mutex
)

// sdiSchema compiles an embedded SdI schema once per test binary.
func sdiSchema(t testing.TB, main string) *Schema {
	t.Helper()
	compileLock.Lock()
	defer compileLock.Unlock()
	if s, ok := schemaOnce.Load(main); ok {
		return s.(*Schema)
	}
	s, err := Compile(sdixsd.FS, main)
	if err != nil {
		t.Fatalf("Compile(%s): %v", main, err)
	}
	schemaOnce.Store(main, s)
	return s
}

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samples, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCompileEmbeddedSchemas(t *testing.T) {
	for _, main := range []string{
		sdixsd.FatturaPA123, sdixsd.FatturaPA122, sdixsd.MessaggiTypes, sdixsd.MessaggiFatturaTypes,
		sdixsd.XMLDSig, sdixsd.RicezioneTypes, sdixsd.TrasmissioneTypes10, sdixsd.TrasmissioneTypes11,
	} {
		t.Run(main, func(t *testing.T) {
			s, err := Compile(sdixsd.FS, main)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name() != main {
				t.Errorf("Name() = %q", s.Name())
			}
			s.Close()
		})
	}
}

// want describes the expected outcome of one validation: valid, or the first violation.
type want struct {
	valid   bool
	line    int
	element string
	path    string
	message string // substring of the first violation's message
	count   int    // number of violations, 0 = do not check
}

func check(t *testing.T, err error, w want) {
	t.Helper()
	if w.valid {
		if err != nil {
			t.Fatalf("want valid, got %v", err)
		}
		return
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %T %v", err, err)
	}
	if w.count > 0 && len(ve.Violations) != w.count {
		t.Errorf("%d violations, want %d: %v", len(ve.Violations), w.count, ve)
	}
	v := ve.Violations[0]
	if v.Line != w.line || v.Element != w.element || !strings.Contains(v.Message, w.message) ||
		(w.path != "" && v.Path != w.path) {
		t.Errorf("first violation %+v\nwant line %d element %q path %q message containing %q", v, w.line, w.element, w.path, w.message)
	}
	if ve.Truncated {
		t.Errorf("Truncated with %d violations", len(ve.Violations))
	}
}

// TestInvoiceSamples gives every official sample invoice the verdict its README states,
// against both FatturaPA schemas.
func TestInvoiceSamples(t *testing.T) {
	cases := []struct {
		file string
		want want
	}{
		{"invoices/IT01234567890_FPA01.xml", want{valid: true}},
		{"invoices/IT01234567890_FPA02.xml", want{valid: true}},
		{"invoices/IT01234567890_FPA03.xml", want{valid: true}},
		{"invoices/IT01234567890_FPR01.xml", want{valid: true}},
		{"invoices/IT01234567890_FPR03.xml", want{valid: true}},
		{"invoices/legacy-1.2.1/IT01234567890_FPR02.xml", want{valid: true}},
		// 1.2.2-era copy: ContattiTrasmittente after PECDestinatario (element order).
		{"invoices/IT01234567890_FPR02.xml", want{line: 16, element: "ContattiTrasmittente", count: 1,
			path:    "/FatturaElettronica/FatturaElettronicaHeader/DatiTrasmissione/ContattiTrasmittente",
			message: "This element is not expected"}},
		{"invoices/invalid/ITAAABBB00C11D222E_12001.xml", want{line: 6, element: "IdPaese", count: 1,
			path:    "/FatturaElettronica/FatturaElettronicaHeader/DatiTrasmissione/IdTrasmittente/IdPaese",
			message: "[facet 'pattern'] The value 'IdPaese' is not accepted by the pattern '[A-Z]{2}'"}},
		// Format v1.0 (another namespace): no declaration for its root.
		{"invoices/signed/IT01234567890_11111.xml", want{line: 5, element: "FatturaElettronica", path: "/FatturaElettronica",
			message: "No matching global declaration available for the validation root"}},
	}
	for _, main := range []string{sdixsd.FatturaPA123, sdixsd.FatturaPA122} {
		s := sdiSchema(t, main)
		for _, c := range cases {
			t.Run(main+"/"+c.file, func(t *testing.T) {
				check(t, s.Validate(filepath.Base(c.file), read(t, c.file), 50), c.want)
			})
		}
	}
}

// TestFatturaPA123 proves the 1.2.3 schema is the one loaded: TD29 and RF20 are new in it.
func TestFatturaPA123(t *testing.T) {
	fpa := read(t, "invoices/IT01234567890_FPA01.xml")
	td29 := bytes.Replace(fpa, []byte("<TipoDocumento>TD01</TipoDocumento>"), []byte("<TipoDocumento>TD29</TipoDocumento>"), 1)
	rf20 := bytes.Replace(fpa, []byte("<RegimeFiscale>RF19</RegimeFiscale>"), []byte("<RegimeFiscale>RF20</RegimeFiscale>"), 1)
	if bytes.Equal(td29, fpa) || bytes.Equal(rf20, fpa) {
		t.Fatal("sample changed: TipoDocumento TD01 / RegimeFiscale RF19 not found")
	}
	for _, doc := range [][]byte{td29, rf20} {
		if err := sdiSchema(t, sdixsd.FatturaPA123).Validate("FPA01.xml", doc, 0); err != nil {
			t.Errorf("1.2.3: %v", err)
		}
		var ve *ValidationError
		if err := sdiSchema(t, sdixsd.FatturaPA122).Validate("FPA01.xml", doc, 0); !errors.As(err, &ve) ||
			!strings.Contains(ve.Violations[0].Message, "[facet 'enumeration']") {
			t.Errorf("1.2.2 accepted a 1.2.3-only code: %v", err)
		}
	}
}

func TestNotificationSamples(t *testing.T) {
	missingSignature := "Missing child element(s). Expected is ( {http://www.w3.org/2000/09/xmldsig#}Signature )"
	cases := []struct {
		schema, file string
		want         want
	}{
		{sdixsd.MessaggiTypes, "notifications/sdi-official/IT01234567890_11111_AT_001.xml", want{valid: true}},
		{sdixsd.MessaggiTypes, "notifications/sdi-official/IT01234567890_11111_DT_001.xml", want{valid: true}},
		{sdixsd.MessaggiTypes, "notifications/sdi-official/IT01234567890_11111_EC_001.xml", want{valid: true}},
		{sdixsd.MessaggiTypes, "notifications/sdi-official/IT01234567890_11111_MC_001.xml", want{valid: true}},
		{sdixsd.MessaggiTypes, "notifications/sdi-official/IT01234567890_11111_MT_001.xml", want{valid: true}},
		{sdixsd.MessaggiTypes, "notifications/sdi-official/IT01234567890_11111_NE_001.xml", want{valid: true}},
		{sdixsd.MessaggiTypes, "notifications/sdi-official/IT01234567890_11111_NS_001.xml", want{valid: true}},
		{sdixsd.MessaggiTypes, "notifications/sdi-official/IT01234567890_11111_RC_001.xml", want{valid: true}},
		{sdixsd.MessaggiTypes, "notifications/sdi-official/IT01234567890_11111_SE_001.xml", want{valid: true}},
		{sdixsd.MessaggiTypes, "notifications/sdi-official/IT01234567890_11112_EC_001.xml", want{valid: true}},
		{sdixsd.MessaggiTypes, "notifications/sdi-official/IT01234567890_12001_MT_001.xml", want{valid: true}},
		{sdixsd.MessaggiTypes, "notifications/testsdi-unsigned/IT01234567890_11111_EC_001.xml", want{valid: true}},
		{sdixsd.MessaggiTypes, "notifications/testsdi-unsigned/IT01234567890_11111_MT_001.xml", want{valid: true}},
		// The testsdi simulator's messages lack the ds:Signature the official schema requires.
		{sdixsd.MessaggiTypes, "notifications/testsdi-unsigned/IT01234567890_11111_RC_001.xml",
			want{line: 3, element: "RicevutaConsegna", path: "/RicevutaConsegna", message: missingSignature, count: 1}},
		{sdixsd.MessaggiTypes, "notifications/testsdi-unsigned/IT01234567890_11111_NS_001.xml",
			want{line: 3, element: "NotificaScarto", path: "/NotificaScarto", message: missingSignature, count: 1}},
		{sdixsd.MessaggiTypes, "notifications/testsdi-unsigned/IT01234567890_11111_MC_001.xml",
			want{line: 3, element: "NotificaMancataConsegna", message: missingSignature, count: 1}},
		{sdixsd.MessaggiTypes, "notifications/testsdi-unsigned/IT01234567890_11111_NE_001.xml",
			want{line: 3, element: "NotificaEsito", message: missingSignature, count: 1}},
		{sdixsd.MessaggiTypes, "notifications/testsdi-unsigned/IT01234567890_11111_DT_001.xml",
			want{line: 3, element: "NotificaDecorrenzaTermini", message: missingSignature, count: 1}},
		{sdixsd.MessaggiTypes, "notifications/testsdi-unsigned/IT01234567890_11111_AT_001.xml",
			want{line: 3, element: "AttestazioneTrasmissioneFattura", message: missingSignature, count: 1}},
		{sdixsd.MessaggiTypes, "notifications/testsdi-unsigned/IT01234567890_11111_SE_001.xml",
			want{line: 3, element: "ScartoEsitoCommittente", message: missingSignature, count: 1}},
		{sdixsd.MessaggiFatturaTypes, "notifications/b2b/ITHVQWPH73P42H501Y_00022_MC_001.xml", want{valid: true}},
		{sdixsd.MessaggiFatturaTypes, "notifications/b2b/ITHVQWPH73P42H501Y_00022_MT_001.xml", want{valid: true}},
		{sdixsd.MessaggiFatturaTypes, "notifications/b2b/ITHVQWPH73P42H501Y_00022_NS_001.xml", want{valid: true}},
		{sdixsd.MessaggiFatturaTypes, "notifications/b2b/ITHVQWPH73P42H501Y_00022_RC_001.xml", want{valid: true}},
		// A PA-flow message is not a B2B one, and the other way round.
		{sdixsd.MessaggiFatturaTypes, "notifications/sdi-official/IT01234567890_11111_RC_001.xml",
			want{line: 2, element: "RicevutaConsegna", message: "No matching global declaration"}},
		{sdixsd.MessaggiTypes, "notifications/b2b/ITHVQWPH73P42H501Y_00022_RC_001.xml",
			want{line: 2, element: "RicevutaConsegna", message: "No matching global declaration"}},
	}
	for _, c := range cases {
		t.Run(c.schema+"/"+c.file, func(t *testing.T) {
			check(t, sdiSchema(t, c.schema).Validate(filepath.Base(c.file), read(t, c.file), 50), c.want)
		})
	}
}

// TestSOAPTypes checks SDICoop message bodies against the web-service type schemas.
func TestSOAPTypes(t *testing.T) {
	const ric = `xmlns:t="http://www.fatturapa.gov.it/sdi/ws/ricezione/v1.0/types"`
	const tra = `xmlns:t="http://www.fatturapa.gov.it/sdi/ws/trasmissione/v1.0/types"`
	cases := []struct {
		name, schema, doc string
		want              want
	}{
		{"RiceviFatture request", sdixsd.RicezioneTypes, `<t:fileSdIConMetadati ` + ric + `><IdentificativoSdI>111</IdentificativoSdI>` +
			`<NomeFile>IT01234567890_11111.xml.p7m</NomeFile><File>PGE+PC9hPg==</File>` +
			`<NomeFileMetadati>IT01234567890_11111_MT_001.xml</NomeFileMetadati><Metadati>PGE+PC9hPg==</Metadati></t:fileSdIConMetadati>`, want{valid: true}},
		{"RiceviFatture response", sdixsd.RicezioneTypes, `<t:rispostaRiceviFatture ` + ric + `><Esito>ER01</Esito></t:rispostaRiceviFatture>`, want{valid: true}},
		{"unknown Esito", sdixsd.RicezioneTypes, `<t:rispostaRiceviFatture ` + ric + `><Esito>ER02</Esito></t:rispostaRiceviFatture>`,
			want{line: 1, element: "Esito", path: "/rispostaRiceviFatture/Esito", message: "[facet 'enumeration'] The value 'ER02'"}},
		{"NotificaEsito response ES00", sdixsd.RicezioneTypes, `<t:rispostaSdINotificaEsito ` + ric + `><Esito>ES00</Esito>` +
			`<ScartoEsito><NomeFile>IT01234567890_11111_SE_001.xml</NomeFile><File>PGE+PC9hPg==</File></ScartoEsito></t:rispostaSdINotificaEsito>`, want{valid: true}},
		{"RiceviFile request", sdixsd.TrasmissioneTypes10, `<t:fileSdIAccoglienza ` + tra + `><NomeFile>IT01234567890_00001.xml</NomeFile><File>PGE+PC9hPg==</File></t:fileSdIAccoglienza>`, want{valid: true}},
		{"RiceviFile response EI01", sdixsd.TrasmissioneTypes10, `<t:rispostaSdIRiceviFile ` + tra + `><IdentificativoSdI>0</IdentificativoSdI>` +
			`<DataOraRicezione>2026-11-25T10:00:00.000+01:00</DataOraRicezione><Errore>EI01</Errore></t:rispostaSdIRiceviFile>`, want{valid: true}},
		{"IdentificativoSdI not a number", sdixsd.TrasmissioneTypes10, "<t:rispostaSdIRiceviFile " + tra + ">\n<IdentificativoSdI>abc</IdentificativoSdI>" +
			`<DataOraRicezione>2026-11-25T10:00:00</DataOraRicezione></t:rispostaSdIRiceviFile>`,
			want{line: 2, element: "IdentificativoSdI", message: "'abc' is not a valid value of the atomic type"}},
		{"bad base64", sdixsd.TrasmissioneTypes11, `<t:fileSdI ` + tra + `><IdentificativoSdI>1</IdentificativoSdI><NomeFile>IT01234567890_11111_RC_001.xml</NomeFile><File>abc</File></t:fileSdI>`,
			want{line: 1, element: "File", message: "'abc' is not a valid value of the atomic type 'xs:base64Binary'"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			check(t, sdiSchema(t, c.schema).Validate(c.name, []byte(c.doc), 50), c.want)
		})
	}
}

// TestPaths locates violations in a lotto (several bodies) by index.
func TestPaths(t *testing.T) {
	fpa3 := read(t, "invoices/IT01234567890_FPA03.xml")
	doc := bytes.Replace(fpa3, []byte("<Numero>456</Numero>"), []byte("<Numero></Numero>"), 1)
	if bytes.Equal(doc, fpa3) {
		t.Fatal("sample changed: <Numero>456</Numero> not found")
	}
	check(t, sdiSchema(t, sdixsd.FatturaPA123).Validate("FPA03.xml", doc, 0), want{
		line: 142, element: "Numero", count: 1,
		path:    "/FatturaElettronica/FatturaElettronicaBody[2]/DatiGenerali/DatiGeneraliDocumento/Numero",
		message: "[facet 'pattern'] The value '' is not accepted"})

	// Beyond line 65535 (libxml2's 16-bit line field) the line is still right.
	big := []byte(`<p:FatturaElettronica xmlns:p="http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2" versione="FPA12">` +
		strings.Repeat("\n", 70000) + `<x/></p:FatturaElettronica>`)
	check(t, sdiSchema(t, sdixsd.FatturaPA123).Validate("big.xml", big, 0), want{
		line: 70001, element: "x", path: "/FatturaElettronica/x", message: "This element is not expected", count: 1})
}

// manyErrors returns the 10 KB invoice with the first n added lines made invalid.
func manyErrors(t testing.TB, n int) []byte {
	doc := xsdtest.Invoice(64 * 1024)
	for i := range n {
		old := fmt.Sprintf("<CodiceValore>ART-%05d</CodiceValore>", i+3)
		if !bytes.Contains(doc, []byte(old)) {
			t.Fatalf("manyErrors(%d): line %d not found", n, i+3)
		}
		doc = bytes.Replace(doc, []byte(old), []byte("<CodiceValore></CodiceValore>"), 1)
	}
	return doc
}

func TestMaxErrors(t *testing.T) {
	s := sdiSchema(t, sdixsd.FatturaPA123)
	doc := manyErrors(t, 60)
	cases := []struct {
		max       int
		listed    int
		truncated bool
	}{
		{max: 50, listed: 50, truncated: true},
		{max: 0, listed: DefaultMaxErrors, truncated: true},
		{max: 1, listed: 1, truncated: true},
		{max: 60, listed: 60, truncated: false},
		{max: 1000, listed: 60, truncated: false},
		{max: 1 << 30, listed: 60, truncated: false},
	}
	for _, c := range cases {
		t.Run(strconv.Itoa(c.max), func(t *testing.T) {
			var ve *ValidationError
			if err := s.Validate("many.xml", doc, c.max); !errors.As(err, &ve) {
				t.Fatalf("want *ValidationError, got %v", err)
			}
			if len(ve.Violations) != c.listed || ve.Truncated != c.truncated {
				t.Fatalf("%d violations, truncated %v; want %d, %v", len(ve.Violations), ve.Truncated, c.listed, c.truncated)
			}
			for i, v := range ve.Violations {
				wantPath := fmt.Sprintf("/FatturaElettronica/FatturaElettronicaBody/DatiBeniServizi/DettaglioLinee[%d]/CodiceArticolo/CodiceValore", i+3)
				if v.Element != "CodiceValore" || v.Path != wantPath || v.Line == 0 {
					t.Fatalf("violation %d: %+v, want path %s", i, v, wantPath)
				}
			}
			if c.truncated && !strings.Contains(ve.Error(), "oltre") {
				t.Errorf("Error() does not say it stopped: %s", ve.Error())
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	s := sdiSchema(t, sdixsd.FatturaPA123)
	cases := []struct {
		name, doc    string
		line, column int
		message      string
	}{
		{"tag mismatch", "<a>\n<b>\n</c></a>", 3, 5, "Opening and ending tag mismatch: b line 2 and c"},
		{"undefined entity", "<a>&foo;</a>", 1, 9, "Entity 'foo' not defined"},
		{"undeclared prefix", "<p:a><b/></p:a>", 1, 5, "Namespace prefix p on a is not defined"},
		{"bad UTF-8", "<a>\xe0 </a>", 1, 4, "Input is not proper UTF-8"},
		{"two roots", "<a/><b/>", 1, 5, "Extra content at the end of the document"},
		{"truncated", "<a><b>text", 1, 11, "Premature end of data"},
		{"bad attribute", "<a x=1/>", 1, 6, "AttValue: \" or ' expected"},
		{"too deep", strings.Repeat("<a>", 300) + strings.Repeat("</a>", 300), 1, 0, "Excessive depth"},
		{"declared encoding unknown", `<?xml version="1.0" encoding="x-unknown"?><a/>`, 1, 0, "encoding"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := s.Validate("bad.xml", []byte(c.doc), 0)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("want *ParseError, got %T %v", err, err)
			}
			if pe.Line != c.line || (c.column != 0 && pe.Column != c.column) || !strings.Contains(pe.Message, c.message) || pe.Name != "bad.xml" {
				t.Errorf("got %+v, want line %d column %d message containing %q", pe, c.line, c.column, c.message)
			}
			if !strings.HasPrefix(pe.Error(), "bad.xml: XML non ben formato alla riga") {
				t.Errorf("Error() = %q", pe.Error())
			}
		})
	}
}

// TestHostile: DTDs and entity tricks are refused before libxml2 sees them (xmlsafe) and,
// should a DTD reach libxml2, refused there too; nothing outside is ever read.
func TestHostile(t *testing.T) {
	s := sdiSchema(t, sdixsd.FatturaPA123)
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("TOPSECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	dtdDocs := map[string]string{
		"xxe file":      `<!DOCTYPE a [<!ENTITY x SYSTEM "file://` + secret + `">]><a>&x;</a>`,
		"xxe network":   `<!DOCTYPE a [<!ENTITY x SYSTEM "http://127.0.0.1:1/x">]><a>&x;</a>`,
		"external dtd":  `<!DOCTYPE a SYSTEM "file://` + secret + `"><a/>`,
		"parameter ent": `<!DOCTYPE a [<!ENTITY % p SYSTEM "file://` + secret + `"> %p;]><a/>`,
		"billion laughs": `<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">` +
			`<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">` +
			`<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">]><l>&g;</l>`,
	}
	for name, doc := range dtdDocs {
		t.Run(name, func(t *testing.T) {
			err := s.Validate("evil.xml", []byte(doc), 0)
			if !errors.Is(err, xmlsafe.ErrDoctype) {
				t.Fatalf("Validate: want xmlsafe.ErrDoctype, got %v", err)
			}
			// Past the gate, libxml2's side refuses the DTD as well (or, for the entity
			// bomb, its own loop detection stops the parse).
			err = s.validate("evil.xml", []byte(doc), 0)
			var pe *ParseError
			if !errors.As(err, &pe) || !pe.DTD && !strings.Contains(pe.Message, "entity reference loop") {
				t.Fatalf("validate without xmlsafe: want *ParseError refusing the DTD, got %v", err)
			}
			if strings.Contains(err.Error(), "TOPSECRET") {
				t.Fatal("the secret file was read")
			}
		})
	}
	// xsi:schemaLocation is never followed: the compiled schema alone decides.
	fpa := read(t, "invoices/IT01234567890_FPA01.xml")
	const official = "http://www.fatturapa.gov.it/export/fatturazione/sdi/fatturapa/v1.2/Schema_del_file_xml_FatturaPA_versione_1.2.xsd"
	if !bytes.Contains(fpa, []byte(official)) {
		t.Fatal("sample changed: no xsi:schemaLocation")
	}
	for _, loc := range []string{"file://" + secret, "http://127.0.0.1:1/evil.xsd", secret} {
		doc := bytes.Replace(fpa, []byte(official), []byte(loc), 1)
		if err := s.Validate("FPA01.xml", doc, 0); err != nil {
			t.Errorf("schemaLocation %s: %v", loc, err)
		}
	}
	// Refusals from the gate name the input.
	for _, doc := range []string{"", "   ", "{}", "\xff\xfe<\x00a\x00/\x00>\x00"} {
		var xe *xmlsafe.Error
		if err := s.Validate("x.xml", []byte(doc), 0); !errors.As(err, &xe) || xe.Name != "x.xml" {
			t.Errorf("Validate(%q): want *xmlsafe.Error naming x.xml, got %v", doc, err)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	const head = `<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t" xmlns:t="urn:t">`
	ok := head + `<xs:element name="a" type="xs:string"/></xs:schema>`
	cases := []struct {
		name       string
		fsys       fstest.MapFS
		main       string
		problem    string // substring of a Problem message, with its file and line
		file       string
		line       int
		unresolved string // substring of an Unresolved entry
	}{
		{name: "malformed", main: "m.xsd", fsys: fstest.MapFS{"m.xsd": {Data: []byte(head + "\n<xs:element name=\"a\">\n</xs:schema>")}},
			problem: "Opening and ending tag mismatch", file: "m.xsd", line: 3},
		{name: "undefined type", main: "m.xsd", fsys: fstest.MapFS{"m.xsd": {Data: []byte(head + "\n\n<xs:element name=\"a\" type=\"t:missing\"/></xs:schema>")}},
			problem: "does not resolve to a(n) type definition", file: "m.xsd", line: 3},
		{name: "not a schema", main: "m.xsd", fsys: fstest.MapFS{"m.xsd": {Data: []byte("<a/>")}},
			problem: "The XML document 'm.xsd' is not a schema document"},
		{name: "missing main", main: "nope.xsd", fsys: fstest.MapFS{}, unresolved: "nope.xsd: open nope.xsd: file does not exist"},
		{name: "missing include", main: "m.xsd", fsys: fstest.MapFS{"m.xsd": {Data: []byte(head + `<xs:include schemaLocation="inc.xsd"/></xs:schema>`)}},
			unresolved: "inc.xsd"},
		{name: "import by unmapped URL", main: "m.xsd", fsys: fstest.MapFS{"m.xsd": {Data: []byte(head + `<xs:import namespace="urn:x" schemaLocation="http://127.0.0.1:1/x.xsd"/></xs:schema>`)}},
			unresolved: "http://127.0.0.1:1/x.xsd: indirizzo assoluto non mappato"},
		{name: "import from file system", main: "m.xsd", fsys: fstest.MapFS{"m.xsd": {Data: []byte(head + `<xs:import namespace="urn:x" schemaLocation="file:///etc/hostname"/></xs:schema>`)}},
			unresolved: "file:///etc/hostname"},
		{name: "escape the FS", main: "d/m.xsd", fsys: fstest.MapFS{"d/m.xsd": {Data: []byte(head + `<xs:include schemaLocation="../../../etc/passwd"/></xs:schema>`)}},
			unresolved: "etc/passwd"},
		{name: "invalid main path", main: "../m.xsd", fsys: fstest.MapFS{"m.xsd": {Data: []byte(ok)}}},
		{name: "empty main", main: "m.xsd", fsys: fstest.MapFS{"m.xsd": {Data: nil}}, problem: "Document is empty", file: "m.xsd"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Compile(c.fsys, c.main)
			if err == nil {
				s.Close()
				t.Fatal("compiled")
			}
			if c.problem == "" && c.unresolved == "" {
				if !strings.Contains(err.Error(), c.main) {
					t.Errorf("error does not name %s: %v", c.main, err)
				}
				return
			}
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("want *CompileError, got %T %v", err, err)
			}
			if ce.Schema != c.main || !strings.Contains(err.Error(), c.main) {
				t.Errorf("error does not name the schema %s: %v", c.main, err)
			}
			if c.problem != "" {
				found := false
				for _, p := range ce.Problems {
					if strings.Contains(p.Message, c.problem) && p.File == c.file && (c.line == 0 || p.Line == c.line) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem %q at %s:%d in %+v", c.problem, c.file, c.line, ce.Problems)
				}
			}
			if c.unresolved != "" && !strings.Contains(strings.Join(ce.Unresolved, "\n"), c.unresolved) {
				t.Errorf("unresolved %q, want it to mention %q", ce.Unresolved, c.unresolved)
			}
		})
	}
}

// TestResolution: relative includes and imports resolve inside the FS (also from
// subfolders), absolute URLs through WithLocation, never from the working directory.
func TestResolution(t *testing.T) {
	fsys := fstest.MapFS{
		"schemas/main.xsd": {Data: []byte(`<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:m" xmlns:m="urn:m" xmlns:o="urn:o">
<xs:include schemaLocation="parts/types.xsd"/>
<xs:import namespace="urn:o" schemaLocation="https://example.invalid/other.xsd"/>
<xs:element name="root"><xs:complexType><xs:sequence><xs:element name="code" type="m:Code"/><xs:element ref="o:other"/></xs:sequence></xs:complexType></xs:element>
</xs:schema>`)},
		"schemas/parts/types.xsd": {Data: []byte(`<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:m">
<xs:include schemaLocation="../common/code.xsd"/></xs:schema>`)},
		"schemas/common/code.xsd": {Data: []byte(`<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:m">
<xs:simpleType name="Code"><xs:restriction base="xs:string"><xs:pattern value="[A-Z]{3}"/></xs:restriction></xs:simpleType></xs:schema>`)},
		"vendor/other.xsd": {Data: []byte(`<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:o"><xs:element name="other" type="xs:int"/></xs:schema>`)},
	}
	// A file of the same name in the working directory must not be picked up.
	t.Chdir(t.TempDir())
	if err := os.WriteFile("other.xsd", fsys["vendor/other.xsd"].Data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(fsys, "schemas/main.xsd"); err == nil || !strings.Contains(err.Error(), "https://example.invalid/other.xsd") {
		t.Fatalf("unmapped import: want an error naming the URL, got %v", err)
	}
	s, err := Compile(fsys, "schemas/main.xsd", WithLocation("https://example.invalid/other.xsd", "vendor/other.xsd"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Validate("ok.xml", []byte(`<m:root xmlns:m="urn:m" xmlns:o="urn:o"><code>ABC</code><o:other>7</o:other></m:root>`), 0); err != nil {
		t.Errorf("valid document: %v", err)
	}
	check(t, s.Validate("bad.xml", []byte(`<m:root xmlns:m="urn:m" xmlns:o="urn:o"><code>abc</code><o:other>x</o:other></m:root>`), 0),
		want{line: 1, element: "code", path: "/root/code", message: "[facet 'pattern'] The value 'abc'", count: 2})
}

func TestClose(t *testing.T) {
	s, err := Compile(sdixsd.FS, sdixsd.MessaggiTypes)
	if err != nil {
		t.Fatal(err)
	}
	doc := read(t, "notifications/sdi-official/IT01234567890_11111_RC_001.xml")
	if err := s.Validate("RC.xml", doc, 0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close()
	if err := s.Validate("RC.xml", doc, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestConcurrent shares one schema among many goroutines; every result must equal the
// one computed alone (go test -race covers the Go side).
func TestConcurrent(t *testing.T) {
	s := sdiSchema(t, sdixsd.FatturaPA123)
	docs := [][]byte{
		read(t, "invoices/IT01234567890_FPA01.xml"),
		read(t, "invoices/IT01234567890_FPA03.xml"),
		read(t, "invoices/IT01234567890_FPR02.xml"),
		read(t, "invoices/invalid/ITAAABBB00C11D222E_12001.xml"),
		manyErrors(t, 55),
		[]byte("<a>\n<b></a>"),
		[]byte("<p:a><b/></p:a>"),
	}
	wantErr := make([]error, len(docs))
	for i, d := range docs {
		wantErr[i] = s.Validate(fmt.Sprint(i), d, 20)
	}
	const goroutines, rounds = 8, 40
	var wg sync.WaitGroup
	errs := make(chan string, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				i := (g + r) % len(docs)
				if got := s.Validate(fmt.Sprint(i), docs[i], 20); !reflect.DeepEqual(got, wantErr[i]) {
					errs <- fmt.Sprintf("goroutine %d doc %d: %v, want %v", g, i, got, wantErr[i])
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

// TestMemoryFlat validates many documents (valid, invalid, malformed) and checks the
// process RSS levels off: every C allocation is freed.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("long loop")
	}
	s := sdiSchema(t, sdixsd.FatturaPA123)
	docs := [][]byte{xsdtest.Invoice(xsdtest.Size10KB), manyErrors(t, 60), []byte("<a>\n<b></a>"), read(t, "invoices/invalid/ITAAABBB00C11D222E_12001.xml")}
	loop := func(n int) {
		for i := range n {
			_ = s.Validate("m.xml", docs[i%len(docs)], 50)
		}
	}
	loop(2000)
	before := rss(t)
	loop(20000)
	after := rss(t)
	t.Logf("RSS %d KiB -> %d KiB after 20000 validations", before/1024, after/1024)
	// One leaked document tree per call would be ~100 KiB x 20000 = 2 GB; a leaked
	// violation list ~15 KiB x 5000 = 75 MB. 16 MiB leaves room for allocator noise.
	if after-before > 16<<20 {
		t.Errorf("RSS grew by %d KiB over 20000 validations", (after-before)/1024)
	}
}

func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm")
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}
