package batch

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"snodo/pkg/xsd"
)

var (
	schemaOnce sync.Once
	schema     *xsd.Schema
	schemaErr  error
)

// ftpSchema compiles the official FtpTypes_v1.2.xsd kept in testdata/ftp.
func ftpSchema(t testing.TB) *xsd.Schema {
	t.Helper()
	schemaOnce.Do(func() {
		schema, schemaErr = xsd.Compile(os.DirFS("../../../../testdata/ftp"), "FtpTypes_v1.2.xsd")
	})
	if schemaErr != nil {
		t.Fatalf("compile FtpTypes_v1.2.xsd: %v", schemaErr)
	}
	return schema
}

func TestNames(t *testing.T) {
	at := time.Date(2025, 1, 5, 9, 7, 59, 0, time.FixedZone("CET", 3600))
	n := Name{Prefix: PrefixOut, CF: StripIT("IT01234567890"), Time: at, N: 2}
	if got, want := n.Zip(), "FO.01234567890.2025005.0807.002.zip"; got != want {
		t.Errorf("Zip() = %q, want %q (UTC, zero-padded)", got, want)
	}
	if got, want := n.Quadratura(), "FO.01234567890.2025005.0807.002.xml"; got != want {
		t.Errorf("Quadratura() = %q, want %q", got, want)
	}
	if err := n.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
	for _, bad := range []Name{
		{Prefix: "XX", CF: "01234567890", N: 1},
		{Prefix: PrefixOut, CF: "0123/567890", N: 1},
		{Prefix: PrefixOut, CF: "", N: 1},
		{Prefix: PrefixOut, CF: "01234567890", N: 0},
		{Prefix: PrefixOut, CF: "01234567890", N: 1000},
		{Prefix: PrefixOut, CF: strings.Repeat("A", 28), N: 1},
	} {
		if err := bad.Check(); err == nil {
			t.Errorf("Check(%+v) = nil, want an error", bad)
		}
	}

	parse := []struct {
		name string
		ok   bool
		want Supporto
	}{
		{"FI.01234567890.2025031.1030.001.zip.done", true, Supporto{"FI", "01234567890", "2025031", "1030", "001", true}},
		{"FO.01234567890.20255.97.1.zip", true, Supporto{"FO", "01234567890", "20255", "97", "1", false}},
		{"EO.RSSMRA80A01H501U.2025365.2359.999.ZIP", true, Supporto{"EO", "RSSMRA80A01H501U", "2025365", "2359", "999", false}},
		{"XX.01234567890.2025031.1030.001.zip", false, Supporto{}},
		{"FI.0123.2025031.1030.001.xml", false, Supporto{}},
		{"FI.01234567890.2025031.1030.zip", false, Supporto{}},
		{"FI.01-34567890.2025031.1030.001.zip", false, Supporto{}},
		{"FI.01234567890.202A031.1030.001.zip", false, Supporto{}},
		{"FI.01234567890.2025031.10300.001.zip", false, Supporto{}},
		{"", false, Supporto{}},
	}
	for _, c := range parse {
		got, err := ParseName(c.name)
		if (err == nil) != c.ok {
			t.Errorf("ParseName(%q) error = %v, want ok=%v", c.name, err, c.ok)
			continue
		}
		if c.ok && got != c.want {
			t.Errorf("ParseName(%q) = %+v, want %+v", c.name, got, c.want)
		}
	}

	for in, want := range map[string]string{
		"FI.X.2025031.1030.001.zip.done":           "EO.X.2025031.1030.001.xml",
		"FI.01234567890.20255.97.001.zip":          "EO.01234567890.20255.97.001.xml",
		"FO.01234567890.2025031.1030.002.zip.done": "EO.01234567890.2025031.1030.002.xml",
		"fatture.zip.done":                         "EO.fatture.xml",
		"strano.done":                              "EO.strano.xml",
	} {
		if got := EsitoName(in); got != want {
			t.Errorf("EsitoName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	for name, want := range map[string]FileType{
		"IT01234567890_00001.xml":        Fatture,
		"IT01234567890_00001.xml.p7m":    Fatture,
		"IT01234567890_0000A.zip":        Fatture,
		"qualcosa.pdf":                   Fatture,
		"IT01234567890_00001_MT_001.xml": MetadatiInvioFile,
		"IT01234567890_00001_EC_001.xml": NotificaEsitoCommittente,
		"IT01234567890_00001_SE_002.xml": ScartoEsitoCommittente,
		"IT01234567890_00001_DT_001.xml": NotificaDecorrenzaTermini,
		"IT01234567890_00001_RC_001.xml": RicevutaConsegna,
		"IT01234567890_00001_MC_001.xml": NotificaMancataConsegna,
		"IT01234567890_00001_NS_001.xml": NotificaScarto,
		"IT01234567890_00001_NE_001.xml": NotificaEsito,
		"IT01234567890_00001_AT_001.zip": AttestazioneTrasmissioneFattura,
		"IT01234567890_00001_XX_001.xml": Fatture,
	} {
		if got := Classify(name); got != want {
			t.Errorf("Classify(%q) = %s, want %s", name, got, want)
		}
	}
	if got := FileType(99).String(); got != "FileType(?)" {
		t.Errorf("String of a bad type = %q", got)
	}
}

func sampleQuadratura() *Quadratura {
	var c Counts
	c[Fatture], c[MetadatiInvioFile] = 2, 2
	return &Quadratura{
		IdentificativoNodo: "01234567890",
		DataOraCreazione:   time.Date(2025, 1, 31, 10, 20, 30, 123e6, time.FixedZone("", 3600)),
		NomeSupporto:       "FO.01234567890.2025031.0920.001.zip",
		NumeroFile:         c,
	}
}

func TestQuadraturaRoundTripValidAgainstXSD(t *testing.T) {
	q := sampleQuadratura()
	data, err := q.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := ftpSchema(t).Validate("quadratura", data, 10); err != nil {
		t.Fatalf("the quadratura we write is not valid against FtpTypes_v1.2.xsd: %v\n%s", err, data)
	}
	got, err := ParseQuadratura("quadratura", data)
	if err != nil {
		t.Fatal(err)
	}
	if got.IdentificativoNodo != q.IdentificativoNodo || !got.DataOraCreazione.Equal(q.DataOraCreazione) ||
		got.NomeSupporto != q.NomeSupporto || got.NumeroFile != q.NumeroFile {
		t.Fatalf("round trip: got %+v, want %+v", got, q)
	}
	if !bytes.Contains(data, []byte(`versione="1.2"`)) || bytes.Count(data, []byte("<EsitoDatiFattura>0<")) != 1 {
		t.Fatalf("quadratura lacks versione or the zero counters:\n%s", data)
	}

	for _, bad := range []*Quadratura{
		{IdentificativoNodo: "IT01234567890", NomeSupporto: "x"},
		{IdentificativoNodo: "01234567890", NomeSupporto: ""},
		{IdentificativoNodo: "01234567890", NomeSupporto: strings.Repeat("x", 45)},
		{IdentificativoNodo: "01234567890", NomeSupporto: "x", NumeroFile: Counts{-1}},
	} {
		if _, err := bad.Marshal(); err == nil {
			t.Errorf("Marshal(%+v) = nil error", bad)
		}
	}
}

func TestEsitoRoundTripValidAgainstXSD(t *testing.T) {
	for _, e := range []*Esito{
		{IdentificativoNodo: "01234567890", DataOraRicezione: time.Now(), DataOraEsito: time.Now(),
			NomeSupporto: "FI.01234567890.2025031.1030.001.zip", Esito: ET01},
		{IdentificativoNodo: "01234567890", DataOraRicezione: time.Now(), DataOraEsito: time.Now(),
			NomeSupporto: "FI.01234567890.2025031.1030.001.zip", Esito: ET02,
			Motivi: []string{"Fatture: la quadratura ne dichiara 3 -- lo zip 2", "x\x00y\u0085z -->", "àèì"}},
		{IdentificativoNodo: "01234567890", DataOraRicezione: time.Now(), DataOraEsito: time.Now(),
			NomeSupporto: "un-nome-molto-lungo-fuori-convenzione-" + strings.Repeat("é", 20) + ".zip", Esito: ET02},
	} {
		data, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := ftpSchema(t).Validate("esito", data, 10); err != nil {
			t.Fatalf("the outcome we write is not valid against FtpTypes_v1.2.xsd: %v\n%s", err, data)
		}
		got, err := ParseEsito("esito", data)
		if err != nil {
			t.Fatal(err)
		}
		if got.Esito != e.Esito || len(got.NomeSupporto) > MaxNomeSupporto {
			t.Fatalf("round trip: %+v", got)
		}
		if len(e.Motivi) > 0 && (len(got.Motivi) < len(e.Motivi) || !strings.Contains(got.Motivi[0], "quadratura ne dichiara 3")) {
			t.Fatalf("reasons lost: %q", got.Motivi)
		}
	}
	if _, err := (&Esito{IdentificativoNodo: "01234567890", Esito: "ET03"}).Marshal(); err == nil {
		t.Fatal("Marshal accepted Esito ET03")
	}
}

const goodQuad = `<?xml version="1.0" encoding="UTF-8"?>
<ns:FileQuadraturaFTP xmlns:ns="http://www.fatturapa.it/sdi/ftp/v1.0" versione="1.2">
<IdentificativoNodo>01234567890</IdentificativoNodo>
<DataOraCreazione>2025-01-31T10:20:30.123+01:00</DataOraCreazione>
<NomeSupporto>FI.01234567890.2025031.1030.001.zip</NomeSupporto>
<NumeroFile><Fatture>1</Fatture><RicevutaConsegna>0</RicevutaConsegna><NotificaMancataConsegna>0</NotificaMancataConsegna><NotificaScarto>0</NotificaScarto><NotificaEsito>0</NotificaEsito><MetadatiInvioFile>0</MetadatiInvioFile><NotificaEsitoCommittente>1</NotificaEsitoCommittente><ScartoEsitoCommittente>0</ScartoEsitoCommittente><NotificaDecorrenzaTermini>0</NotificaDecorrenzaTermini><AttestazioneTrasmissioneFattura>0</AttestazioneTrasmissioneFattura><DatiFattura>0</DatiFattura><EsitoDatiFattura>0</EsitoDatiFattura></NumeroFile>
</ns:FileQuadraturaFTP>`

// TestParseQuadraturaAgreesWithXSD runs the reader and the official schema over the
// same documents: both must accept the good ones and refuse the bad ones.
func TestParseQuadraturaAgreesWithXSD(t *testing.T) {
	cases := []struct {
		name, doc, wantErr string
	}{
		{"good", goodQuad, ""},
		{"good without fraction, Z", strings.Replace(goodQuad, "10:20:30.123+01:00", "10:20:30Z", 1), ""},
		{"good counter with spaces", strings.Replace(goodQuad, "<Fatture>1<", "<Fatture> 1\n<", 1), ""},
		{"no versione", strings.Replace(goodQuad, ` versione="1.2"`, "", 1), "versione"},
		{"versione 1.1", strings.Replace(goodQuad, `"1.2"`, `"1.1"`, 1), "versione"},
		{"other namespace", strings.Replace(goodQuad, "ftp/v1.0", "ftp/v9", 1), "radice"},
		{"qualified children", strings.Replace(strings.Replace(goodQuad, "<IdentificativoNodo>", "<ns:IdentificativoNodo>", 1), "</IdentificativoNodo>", "</ns:IdentificativoNodo>", 1), "unqualified"},
		{"nodo with IT", strings.Replace(goodQuad, ">01234567890<", ">IT01234567890<", 1), "11 cifre"},
		{"nodo with space", strings.Replace(goodQuad, ">01234567890<", "> 01234567890<", 1), "11 cifre"},
		{"bad date", strings.Replace(goodQuad, "2025-01-31T", "2025-02-31T", 1), "DataOraCreazione"},
		{"date with comma", strings.Replace(goodQuad, "30.123", "30,123", 1), "DataOraCreazione"},
		{"date offset 15h", strings.Replace(goodQuad, "+01:00", "+15:00", 1), "DataOraCreazione"},
		{"nome too long", strings.Replace(goodQuad, "FI.01234567890.2025031.1030.001.zip", strings.Repeat("F", 45), 1), "NomeSupporto"},
		{"missing counter", strings.Replace(goodQuad, "<DatiFattura>0</DatiFattura>", "", 1), "DatiFattura"},
		{"counters out of order", strings.Replace(goodQuad, "<Fatture>1</Fatture><RicevutaConsegna>0</RicevutaConsegna>", "<RicevutaConsegna>0</RicevutaConsegna><Fatture>1</Fatture>", 1), "inatteso"},
		{"negative counter", strings.Replace(goodQuad, "<Fatture>1<", "<Fatture>-1<", 1), "non negativo"},
		{"empty counter", strings.Replace(goodQuad, "<Fatture>1<", "<Fatture><", 1), "non negativo"},
		{"extra element", strings.Replace(goodQuad, "</NumeroFile>", "</NumeroFile><Altro/>", 1), "inatteso"},
		{"extra attribute", strings.Replace(goodQuad, `versione="1.2"`, `versione="1.2" x="1"`, 1), "attributo"},
		{"text in sequence", strings.Replace(goodQuad, "<NumeroFile>", "testo<NumeroFile>", 1), "testo fuori"},
		{"element in leaf", strings.Replace(goodQuad, "<Fatture>1<", "<Fatture><b/>1<", 1), "solo testo"},
		{"doctype", strings.Replace(goodQuad, "?>", "?><!DOCTYPE x [<!ENTITY a \"b\">]>", 1), "DOCTYPE"},
		{"not xml", "PK\x03\x04", "XML"},
		{"malformed", goodQuad[:200], "ben formato"},
		{"trailing text", goodQuad + "x", "fuori dall'elemento radice"},
		{"two roots", goodQuad + "<a/>", "radice"},
		{"good with a processing instruction", strings.Replace(goodQuad, "<IdentificativoNodo>", "<?pi x?><IdentificativoNodo>", 1), ""},
		{"good latin1", strings.Replace(strings.Replace(goodQuad, "UTF-8", "ISO-8859-1", 1), "</ns:File", "<!-- \xe0 --></ns:File", 1), ""},
		{"utf-16 declared", strings.Replace(goodQuad, "UTF-8", "UTF-16", 1), "codifica"},
		{"deep", strings.Replace(goodQuad, "<Fatture>1<", "<Fatture><a><b><c>1</c></b></a><", 1), "annidamento"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseQuadratura("FI.x.xml", []byte(c.doc))
			xerr := ftpSchema(t).Validate("FI.x.xml", []byte(c.doc), 5)
			if c.wantErr == "" {
				if err != nil || xerr != nil {
					t.Fatalf("good document refused: reader %v, XSD %v", err, xerr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("reader error = %v, want one mentioning %q", err, c.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "FI.x.xml") {
				t.Errorf("error does not name the input: %v", err)
			}
			if xerr == nil {
				t.Fatalf("the reader refuses a document the XSD accepts (%v)", err)
			}
		})
	}
}

func TestParseEsitoLenientVersione(t *testing.T) {
	doc := `<ns:FileEsitoFTP xmlns:ns="http://www.fatturapa.it/sdi/ftp/v1.0"><IdentificativoNodo>01234567890</IdentificativoNodo>` +
		`<DataOraRicezione>2025-01-31T10:20:30</DataOraRicezione><DataOraEsito>2025-01-31T10:21:30</DataOraEsito>` +
		`<NomeSupporto>EO.X.2025031.1030.001.xml</NomeSupporto><Esito>ET02</Esito></ns:FileEsitoFTP>`
	e, err := ParseEsito("EO.x.xml", []byte(doc))
	if err != nil {
		t.Fatalf("outcome without versione (as IntermediaMarche writes it) refused: %v", err)
	}
	if e.Esito != ET02 || e.NomeSupporto != "EO.X.2025031.1030.001.xml" {
		t.Fatalf("parsed %+v", e)
	}
	if _, err := ParseEsito("EO.x.xml", []byte(strings.Replace(doc, "ET02", "KO", 1))); err == nil || !strings.Contains(err.Error(), "ET01 o ET02") {
		t.Fatalf("bad Esito: %v", err)
	}
}

// zipOf builds a zip with the given entries (name → content), in order.
func zipOf(t testing.TB, entries ...[2]string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		w, err := zw.Create(e[0])
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, e[1])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func quadFor(nome string, c Counts) string {
	q := &Quadratura{IdentificativoNodo: "01234567890", DataOraCreazione: time.Now(), NomeSupporto: nome, NumeroFile: c}
	data, err := q.Marshal()
	if err != nil {
		panic(err)
	}
	return string(data)
}

func TestWriteZipThenCheck(t *testing.T) {
	name := Name{Prefix: PrefixIn, CF: "01234567890", Time: time.Now(), N: 1}
	entries := []Entry{
		BytesEntry("IT01234567890_00001.xml", []byte("<fattura n='1'/>")),
		BytesEntry("IT01234567890_00001_MT_001.xml", []byte("<mt/>")),
		BytesEntry("IT01234567890_00002.xml.p7m", bytes.Repeat([]byte{0x30, 0x82}, 5000)),
		BytesEntry("IT01234567890_00002_MT_001.xml", []byte("<mt n='2'/>")),
	}
	names := []string{entries[0].Name, entries[1].Name, entries[2].Name, entries[3].Name}
	q := &Quadratura{IdentificativoNodo: "01234567890", DataOraCreazione: time.Now(), NomeSupporto: name.Zip(), NumeroFile: CountNames(names)}
	var b bytes.Buffer
	if err := WriteZip(&b, q, name.Quadratura(), entries, time.Now()); err != nil {
		t.Fatal(err)
	}
	c, err := Check(name.Zip()+DoneSuffix, bytes.NewReader(b.Bytes()), int64(b.Len()), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if c.QuadraturaName != name.Quadratura() || len(c.Files) != 4 || c.Quadratura.NumeroFile[Fatture] != 2 {
		t.Fatalf("checked %+v", c)
	}
	for i, f := range c.Files {
		data, err := f.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := entries[i].Open()
		wantData, _ := io.ReadAll(want)
		if f.Name != names[i] || !bytes.Equal(data, wantData) {
			t.Fatalf("entry %d: %s %q", i, f.Name, data)
		}
	}

	// WriteZip refuses what Check would refuse.
	bad := *q
	bad.NumeroFile[Fatture] = 3
	if err := WriteZip(io.Discard, &bad, name.Quadratura(), entries, time.Now()); err == nil {
		t.Fatal("WriteZip accepted a quadratura that does not count its entries")
	}
	if err := WriteZip(io.Discard, q, name.Quadratura(), append(entries[:3:3], BytesEntry("../x.xml", nil)), time.Now()); err == nil {
		t.Fatal("WriteZip accepted a path in an entry name")
	}
	if err := WriteZip(io.Discard, q, name.Quadratura(), append(entries[:3:3], entries[0]), time.Now()); err == nil {
		t.Fatal("WriteZip accepted the same entry twice")
	}
}

func TestCheckRefusals(t *testing.T) {
	const zipName = "FI.01234567890.2025031.1030.001.zip.done"
	const nome = "FI.01234567890.2025031.1030.001.zip"
	var one Counts
	one[Fatture] = 1
	inv := [2]string{"IT01234567890_00001.xml", "<f/>"}
	quad := func(c Counts) [2]string { return [2]string{"FI.01234567890.2025031.1030.001.xml", quadFor(nome, c)} }

	var two Counts
	two[Fatture], two[NotificaEsitoCommittente] = 1, 1
	var mtCount Counts
	mtCount[MetadatiInvioFile] = 1

	bomb := func() []byte {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		w, _ := zw.Create(inv[0])
		chunk := make([]byte, 1<<20)
		for range 20 {
			w.Write(chunk)
		}
		w2, _ := zw.Create(quad(one)[0])
		io.WriteString(w2, quad(one)[1])
		zw.Close()
		return b.Bytes()
	}()
	encrypted := func() []byte {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: inv[0], Method: zip.Deflate, Flags: 0x1})
		io.WriteString(w, "x")
		w2, _ := zw.Create(quad(one)[0])
		io.WriteString(w2, quad(one)[1])
		zw.Close()
		return b.Bytes()
	}()
	corrupt := func() []byte {
		data := zipOf(t, [2]string{inv[0], strings.Repeat("fattura ", 100)}, quad(one))
		// Flip a byte of the first entry's compressed data (after its 30+len(name) header).
		data[30+len(inv[0])+5] ^= 0xff
		return data
	}()
	storedUnknownMethod := func() []byte {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		zw.RegisterCompressor(99, func(w io.Writer) (io.WriteCloser, error) { return nopWC{w}, nil })
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: inv[0], Method: 99})
		io.WriteString(w, "x")
		w2, _ := zw.Create(quad(one)[0])
		io.WriteString(w2, quad(one)[1])
		zw.Close()
		return b.Bytes()
	}()
	many := func() []byte {
		var es [][2]string
		for i := range 12 {
			es = append(es, [2]string{fmt.Sprintf("IT01234567890_%05d.xml", i), "<f/>"})
		}
		return zipOf(t, es...)
	}()

	cases := []struct {
		name string
		data []byte
		lim  Limits
		want []string
	}{
		{"not a zip", []byte("questo non è uno zip"), Limits{}, []string{"non è un file zip"}},
		{"empty", nil, Limits{}, []string{"non è un file zip"}},
		{"no quadratura", zipOf(t, inv), Limits{}, []string{"manca il file di quadratura"}},
		{"two quadrature", zipOf(t, inv, quad(one), [2]string{"EO.01234567890.2025031.1030.001.xml", quadFor(nome, one)}), Limits{}, []string{"più file di quadratura"}},
		{"count mismatch", zipOf(t, inv, quad(two)), Limits{}, []string{"NotificaEsitoCommittente: la quadratura ne dichiara 1, lo zip ne contiene 0"}},
		{"type mismatch", zipOf(t, inv, quad(mtCount)), Limits{}, []string{"Fatture: la quadratura ne dichiara 0, lo zip ne contiene 1", "MetadatiInvioFile: la quadratura ne dichiara 1"}},
		{"nome supporto", zipOf(t, inv, [2]string{"FI.x.xml", quadFor("FI.altro.zip", one)}), Limits{}, []string{"NomeSupporto"}},
		{"bad quadratura", zipOf(t, inv, [2]string{"FI.x.xml", strings.Replace(quadFor(nome, one), `versione="1.2"`, "", 1)}), Limits{}, []string{"versione"}},
		{"doctype quadratura", zipOf(t, inv, [2]string{"FI.x.xml", `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>`}), Limits{}, []string{"DOCTYPE"}},
		{"path traversal", zipOf(t, [2]string{"../../etc/cron.d/x", "x"}, inv, quad(one)), Limits{}, []string{"separatore"}},
		{"absolute path", zipOf(t, [2]string{"/etc/passwd", "x"}, inv, quad(one)), Limits{}, []string{"separatore"}},
		{"backslash", zipOf(t, [2]string{`..\x.xml`, "x"}, inv, quad(one)), Limits{}, []string{"separatore"}},
		{"folder", zipOf(t, [2]string{"cartella/", ""}, inv, quad(one)), Limits{}, []string{"cartella"}},
		{"control chars", zipOf(t, [2]string{"a\x1b[31m.xml", "x"}, inv, quad(one)), Limits{}, []string{"controllo"}},
		{"not utf-8", zipOf(t, [2]string{"fattura\xe0.xml", "x"}, inv, quad(one)), Limits{}, []string{"UTF-8"}},
		{"dot dot", zipOf(t, [2]string{"..", "x"}, inv, quad(one)), Limits{}, []string{"non ammesso"}},
		{"duplicate", zipOf(t, inv, inv, quad(one)), Limits{}, []string{"compare due volte"}},
		{"encrypted", encrypted, Limits{}, []string{"cifrato"}},
		{"method", storedUnknownMethod, Limits{}, []string{"metodo di compressione 99"}},
		{"corrupt", corrupt, Limits{}, []string{"danneggiato"}},
		{"bomb ratio", bomb, Limits{}, []string{"rapporto di compressione"}},
		{"entry too large", zipOf(t, [2]string{inv[0], strings.Repeat("x", 2000)}, quad(one)), Limits{MaxEntrySize: 1000}, []string{"oltre il limite di 1000"}},
		{"total too large", zipOf(t, [2]string{inv[0], strings.Repeat("x", 900)}, [2]string{"IT01234567890_00002.xml", strings.Repeat("y", 900)}, quad(one)), Limits{MaxEntrySize: 1000, MaxTotal: 1500}, []string{"superano in totale 1500"}},
		{"too many entries", many, Limits{MaxEntries: 10}, []string{"12 file nello zip, il massimo è 10"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Check(zipName, bytes.NewReader(c.data), int64(len(c.data)), c.lim)
			var ref *Refusal
			if !errors.As(err, &ref) {
				t.Fatalf("Check = %+v, %v; want a *Refusal", got, err)
			}
			if ref.Name != zipName || !strings.Contains(err.Error(), zipName) {
				t.Errorf("refusal does not name the zip: %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("refusal %q lacks %q", err, w)
				}
			}
		})
	}
}

type nopWC struct{ io.Writer }

func (nopWC) Close() error { return nil }

func TestRefusalCapsReasons(t *testing.T) {
	var es [][2]string
	for i := range 50 {
		es = append(es, [2]string{fmt.Sprintf("../x%d", i), "x"})
	}
	data := zipOf(t, es...)
	_, err := Check("z.zip", bytes.NewReader(data), int64(len(data)), Limits{})
	var ref *Refusal
	if !errors.As(err, &ref) || len(ref.Reasons) != maxReasons+1 || !strings.Contains(ref.Reasons[maxReasons], "omessi") {
		t.Fatalf("got %d reasons: %v", len(ref.Reasons), err)
	}
}

func TestPlan(t *testing.T) {
	g := func(size int64, names ...string) Group { return Group{Size: size, Names: names} }
	cases := []struct {
		groups []Group
		max    int64
		want   string
	}{
		{nil, 10, "[]"},
		{[]Group{g(3, "a"), g(3, "b"), g(3, "c")}, 10, "[[0 1 2]]"},
		{[]Group{g(4, "a"), g(4, "b"), g(4, "c")}, 10, "[[0 1] [2]]"},
		{[]Group{g(20, "a"), g(1, "b"), g(1, "c")}, 10, "[[0] [1 2]]"},
		{[]Group{g(1, "a"), g(20, "b"), g(1, "c")}, 10, "[[0] [1] [2]]"},
		{[]Group{g(5, "a"), g(5, "b"), g(5, "c"), g(5, "d")}, 10, "[[0 1] [2 3]]"},
		{[]Group{g(1, "a", "a_MT"), g(1, "b"), g(1, "a", "a_MT"), g(1, "c")}, 10, "[[0 1] [2 3]]"},
	}
	for _, c := range cases {
		if got := fmt.Sprint(Plan(c.groups, c.max)); got != c.want {
			t.Errorf("Plan(%v, %d) = %s, want %s", c.groups, c.max, got, c.want)
		}
	}
}

func TestEmbeddedSchemaIsTheOfficialCopy(t *testing.T) {
	embedded, err := os.ReadFile("FtpTypes_v1.2.xsd")
	if err != nil {
		t.Fatal(err)
	}
	official, err := os.ReadFile("../../../../testdata/ftp/FtpTypes_v1.2.xsd")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(embedded, official) {
		t.Fatal("pkg/channel/ftp/batch/FtpTypes_v1.2.xsd differs from testdata/ftp/FtpTypes_v1.2.xsd (the documented copy)")
	}
}
