package fatturapa

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"snodo/pkg/fatturapa/rules"
	"snodo/pkg/signature"
	"snodo/pkg/testpki"
)

const samples = "../../testdata/fatturapa/samples/"

func readSample(t testing.TB, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(samples + rel)
	if err != nil {
		t.Fatalf("official sample: %v", err)
	}
	return data
}

// TestOfficialSamples gives every official sample its verdict. The samples use the
// placeholder identifiers 01234567890 and 09876543210, whose check digits are wrong (the
// SdI would refuse them: 00300, 00301, 00306); with those checks skipped:
//   - FPA01, FPA02, FPA03, FPR01 and the 1.2.1-era FPR02 are valid;
//   - the 1.2.2-era FPR02 breaks the element order (00200);
//   - FPR03's first invoice sums its lines to 25.00 but declares ImponibileImporto 27.00,
//     beyond the one-euro tolerance (00422): the SdI would refuse it too;
//   - the invalid/ file fails the XSD (00200);
//   - the signed FatturaPA 1.0/1.1 samples unwrap and verify, and fail the XSD because
//     that format is no longer accepted (00200).
func TestOfficialSamples(t *testing.T) {
	cases := []struct {
		file, envelope string
		want           []string
	}{
		{"IT01234567890_FPA01.xml", "xml", nil},
		{"IT01234567890_FPA02.xml", "xml", nil},
		{"IT01234567890_FPA03.xml", "xml", nil},
		{"IT01234567890_FPR01.xml", "xml", nil},
		{"IT01234567890_FPR02.xml", "xml", []string{"00200"}},
		{"legacy-1.2.1/IT01234567890_FPR02.xml", "xml", nil},
		{"IT01234567890_FPR03.xml", "xml", []string{"00422"}},
		{"invalid/ITAAABBB00C11D222E_12001.xml", "xml", []string{"00200"}},
		{"signed/IT01234567890_11111.xml", "xml", []string{"00200"}},
		{"signed/IT01234567890_11111.xml.p7m", "cades", []string{"00200"}},
		{"signed/IT01234567890_X1111.xml", "xades", []string{"00200"}},
		{"signed/IT01234567890_12001.xml.p7m", "cades", nil},
	}
	v := testValidator(t)
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			r := v.Validate(context.Background(), filepath.Base(c.file), readSample(t, c.file), Options{SkipTaxIDs: true})
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if got := codes(r); !slices.Equal(got, c.want) || r.Envelope != c.envelope {
				t.Fatalf("codes %v envelope %q, want %v %q\n%s", got, r.Envelope, c.want, c.envelope, dumpErrors(r))
			}
			if c.envelope != "xml" && r.Signer == "" {
				t.Error("signed sample without signer")
			}
			if c.want == nil && (r.Invoice == nil || len(r.Content) == 0) {
				t.Error("valid sample without parsed invoice")
			}
		})
	}
	// With the identifier checks, the placeholders are refused as the SdI would.
	r := v.Validate(context.Background(), "IT01234567890_FPA01.xml", readSample(t, "IT01234567890_FPA01.xml"), Options{})
	if got := codes(r); !slices.Equal(got, []string{"00300", "00301", "00306"}) {
		t.Fatalf("FPA01 with identifier checks: %v", got)
	}
	// The element-order fault of FPR02 is located.
	r = v.Validate(context.Background(), "IT01234567890_FPR02.xml", readSample(t, "IT01234567890_FPR02.xml"), Options{})
	if e := r.Errors[0]; e.Line != 16 || !strings.HasSuffix(e.Path, "/ContattiTrasmittente") {
		t.Fatalf("FPR02 error at %d %s", e.Line, e.Path)
	}
}

func TestOfficialArchive(t *testing.T) {
	r := testValidator(t).Validate(context.Background(), "IT01234567890_12006.zip", readSample(t, "IT01234567890_12006.zip"), Options{SkipTaxIDs: true})
	if !r.Valid || r.Envelope != "zip" || len(r.Members) != 2 {
		t.Fatalf("archive: valid %v envelope %q members %d %v", r.Valid, r.Envelope, len(r.Members), r.Errors)
	}
	// 12003 repeats the 25.00/27.00 inconsistency of the FPA03 it was made from.
	if m := r.Members[0]; m.File != "IT01234567890_12001.xml" || !m.Valid {
		t.Errorf("member 1: %s %v %v", m.File, m.Valid, codes(m))
	}
	if m := r.Members[1]; m.File != "IT01234567890_12003.xml" || !slices.Equal(codes(m), []string{"00422"}) {
		t.Errorf("member 2: %s %v", m.File, codes(m))
	}
	if r.AllValid() {
		t.Error("AllValid with an invalid member")
	}
}

func zipOf(t testing.TB, files ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.Create(f[0])
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f[1]))
	}
	zw.Close()
	return buf.Bytes()
}

func TestArchive(t *testing.T) {
	good := string(build(t))
	bad := string(build(t, set(line1+"/PrezzoTotale", "21.00")))
	v := testValidator(t)
	r := v.Validate(context.Background(), "IT01234567897_00010.zip",
		zipOf(t, [2]string{"IT01234567897_00011.xml", good}, [2]string{"IT01234567897_00012.xml", bad}, [2]string{"fattura.xml", good}),
		Options{ReceivedAt: received})
	if !r.Valid || len(r.Members) != 3 {
		t.Fatalf("archive %v %v members %d", r.Valid, r.Errors, len(r.Members))
	}
	want := [][]string{nil, {"00423"}, {"00001"}}
	for i, m := range r.Members {
		if !slices.Equal(codes(m), want[i]) {
			t.Errorf("member %s: %v, want %v", m.File, codes(m), want[i])
		}
	}
	nested := zipOf(t, [2]string{"IT01234567897_00011.zip", string(zipOf(t, [2]string{"IT01234567897_00012.xml", good}))})
	for name, data := range map[string][]byte{"corrupt": []byte("PK\x03\x04garbage"), "nested": nested, "empty": zipOf(t)} {
		r := v.Validate(context.Background(), "IT01234567897_00010.zip", data, Options{})
		if !slices.Equal(codes(r), []string{"00106"}) || len(r.Members) != 0 {
			t.Errorf("%s archive: %v", name, codes(r))
		}
	}
}

func TestFileLevelChecks(t *testing.T) {
	base := build(t)
	doctype := []byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>` + string(base[strings.Index(string(base), "<p:Fattura"):]))
	broken := bytes.Replace(base, []byte("</Numero>"), []byte("</Numer>"), 1)
	var many strings.Builder
	for i := 0; i < 60; i++ {
		fmt.Fprintf(&many, "<DettaglioLinee><NumeroLinea>%d</NumeroLinea><Descrizione>X</Descrizione><PrezzoUnitario>1.00</PrezzoUnitario>"+
			"<PrezzoTotale>1.00</PrezzoTotale><AliquotaIVA>ventidue</AliquotaIVA></DettaglioLinee>", i+2)
	}
	tooMany := bytes.Replace(base, []byte("<DatiRiepilogo>"), []byte(many.String()+"<DatiRiepilogo>"), 1)
	p7m := readSample(t, "signed/IT01234567890_11111.xml.p7m")
	cases := []struct {
		name, file string
		data       []byte
		want       []string
		mention    string
	}{
		{"bad name", "fattura.xml", base, []string{"00001"}, "separatore"},
		{"path in name", "../IT01234567897_00001.xml", base, []string{"00001"}, "'/'"},
		{"oversize", testName, append(bytes.Repeat([]byte(" "), MaxFileSize), base...), []string{"00003"}, "limite"},
		{"empty", testName, []byte("  \n"), []string{"00106"}, "vuoto"},
		{"p7m name, plain content", "IT01234567897_00001.xml.p7m", base, []string{"00106"}, "CAdES"},
		{"xml name, p7m content", testName, p7m, []string{"00200"}, ".xml.p7m"},
		{"garbage p7m", "IT01234567897_00001.xml.p7m", []byte("\x30\x82\x01\x00garbage"), []string{"00106"}, ""},
		{"doctype", testName, doctype, []string{"00200"}, "DOCTYPE"},
		{"not xml", testName, []byte("%PDF-1.4 not an invoice"), []string{"00106"}, ""},
		{"malformed", testName, broken, []string{"00200"}, "riga"},
		{"more than 50 format errors", testName, tooMany, []string{"00200", "00201"}, ""},
	}
	v := testValidator(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := v.Validate(context.Background(), c.file, c.data, Options{ReceivedAt: received})
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if !slices.Equal(codes(r), c.want) {
				t.Fatalf("codes %v, want %v\n%s", codes(r), c.want, dumpErrors(r))
			}
			if c.mention != "" && !strings.Contains(r.Errors[0].Message, c.mention) {
				t.Fatalf("message %q does not mention %q", r.Errors[0].Message, c.mention)
			}
		})
	}
	r := v.Validate(context.Background(), testName, tooMany, Options{})
	if n := len(r.Errors); n != MaxFormatErrors+1 || r.Errors[n-1].Code != "00201" {
		t.Fatalf("format errors: %d, last %s", n, r.Errors[n-1].Code)
	}
	r = v.Validate(context.Background(), testName, broken, Options{})
	if r.Errors[0].Line == 0 {
		t.Fatal("malformed XML without a line")
	}
	// The active cycle validates before naming the file.
	r = v.Validate(context.Background(), "bozza.xml", base, Options{SkipFileName: true, ReceivedAt: received})
	if !r.Valid {
		t.Fatalf("SkipFileName: %v", codes(r))
	}
}

// signerOf returns the signing certificate of a signed sample.
func signerOf(t testing.TB, name string, data []byte) *signature.Result {
	t.Helper()
	res, err := (&signature.Verifier{IntegrityOnly: true}).Verify(name, data)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestSignatures(t *testing.T) {
	p7m := readSample(t, "signed/IT01234567890_12001.xml.p7m")
	const name = "IT01234567890_12001.xml.p7m"
	signer := signerOf(t, name, p7m).Signer
	strict := func(anchors ...*x509.Certificate) *Validator {
		v, err := New(Config{Schema: testValidator(t).schema, Signatures: &signature.Verifier{Trust: signature.NewTrustStore(anchors...)}})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	opts := Options{SkipTaxIDs: true}
	ctx := context.Background()

	if r := strict().Validate(ctx, name, p7m, opts); !slices.Equal(codes(r), []string{"00104"}) {
		t.Errorf("untrusted CA: %v", codes(r))
	}
	if r := strict(signer).Validate(ctx, name, p7m, opts); !r.Valid || len(r.Notes) != 0 {
		t.Errorf("trusted signer: %v %v", codes(r), r.Notes)
	}
	// the chain is checked at the signing time: a reception after the certificate
	// expired does not matter
	late := Options{SkipTaxIDs: true, ReceivedAt: signer.NotAfter.Add(24 * time.Hour)}
	if r := strict(signer).Validate(ctx, name, p7m, late); !r.Valid {
		t.Errorf("reception after expiry: %v %s", codes(r), dumpErrors(r))
	}
	// a reception before the signing time: 00105
	cades := readSample(t, "signed/IT01234567890_11111.xml.p7m")
	res := signerOf(t, "IT01234567890_11111.xml.p7m", cades)
	if !res.SigningTime.IsZero() {
		early := Options{ReceivedAt: res.SigningTime.Add(-48 * time.Hour)}
		if r := testValidator(t).Validate(ctx, "IT01234567890_11111.xml.p7m", cades, early); !slices.Equal(codes(r), []string{"00105"}) {
			t.Errorf("signing time after reception: %v", codes(r))
		}
	}
	// tampered content: 00102, whichever the envelope
	tampered := bytes.Replace(cades, []byte("<CodiceDestinatario>AAAAAA<"), []byte("<CodiceDestinatario>AAAAAB<"), 1)
	if bytes.Equal(tampered, cades) {
		t.Fatal("tamper target not found in the CAdES sample")
	}
	if r := testValidator(t).Validate(ctx, "IT01234567890_11111.xml.p7m", tampered, Options{}); !slices.Equal(codes(r), []string{"00102"}) {
		t.Errorf("tampered CAdES: %v", codes(r))
	}
	xades := readSample(t, "signed/IT01234567890_X1111.xml")
	tamperedX := bytes.Replace(xades, []byte("<Numero>"), []byte("<Numero>9"), 1)
	if r := testValidator(t).Validate(ctx, "IT01234567890_X1111.xml", tamperedX, Options{}); !slices.Equal(codes(r), []string{"00102"}) {
		t.Errorf("tampered XAdES: %v", codes(r))
	}
}

// TestOwnSignatures signs the base invoice with a throwaway PKI, in CAdES and XAdES,
// and checks each signature verdict end to end.
func TestOwnSignatures(t *testing.T) {
	ca, err := testpki.NewCA("Snodo Test CA", testpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	other := testpki.MustCA("Altra CA")
	valid, err := ca.Signing("Mario Rossi", testpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-3 * 365 * 24 * time.Hour)
	expired, err := ca.Signing("Firma Scaduta", testpki.Options{NotBefore: past, NotAfter: past.Add(365 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	doc := build(t)
	sign := func(iss *testpki.Issued, at time.Time, xades bool) []byte {
		s := &signature.Signer{Key: iss.Key, Cert: iss.Cert, Chain: iss.Chain, Now: func() time.Time { return at }}
		var out []byte
		var err error
		if xades {
			out, err = s.SignXAdES(doc)
		} else {
			out, err = s.SignCAdES(doc)
		}
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	validator := func(anchor *testpki.CA) *Validator {
		v, err := New(Config{Schema: testValidator(t).schema, Signatures: &signature.Verifier{Trust: signature.NewTrustStore(anchor.Cert)}})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	now := time.Now()
	for _, xades := range []bool{false, true} {
		name, env := "IT01234567897_00001.xml.p7m", "cades"
		if xades {
			name, env = testName, "xades"
		}
		t.Run(env, func(t *testing.T) {
			ctx := context.Background()
			good := sign(valid, now.Add(-time.Hour), xades)
			r := validator(ca).Validate(ctx, name, good, Options{})
			if !r.Valid || r.Envelope != env || !strings.Contains(r.Signer, "Mario Rossi") || r.Invoice == nil {
				t.Fatalf("valid signature: %v envelope %q signer %q", codes(r), r.Envelope, r.Signer)
			}
			cases := []struct {
				name string
				v    *Validator
				data []byte
				opts Options
				want string
			}{
				{"untrusted CA", validator(other), good, Options{}, "00104"},
				{"expired certificate", validator(ca), sign(expired, past.Add(400*24*time.Hour), xades), Options{}, "00100"},
				{"signed after reception", validator(ca), good, Options{ReceivedAt: now.Add(-48 * time.Hour)}, "00105"},
				{"content altered", validator(ca), bytes.Replace(good, []byte("FT-1"), []byte("FT-2"), 1), Options{}, "00102"},
			}
			if xades {
				i := bytes.Index(good, []byte("SigningTime>"))
				if i < 0 {
					t.Fatal("no SigningTime in the XAdES signature")
				}
				tampered := append([]byte{}, good...)
				tampered[i+len("SigningTime>")+3]++ // the year's last digit
				cases = append(cases, struct {
					name string
					v    *Validator
					data []byte
					opts Options
					want string
				}{"SignedProperties altered", validator(ca), tampered, Options{}, "00102"})
			}
			for _, c := range cases {
				r := c.v.Validate(ctx, name, c.data, c.opts)
				if !slices.Equal(codes(r), []string{c.want}) {
					t.Errorf("%s: %v, want %s\n%s", c.name, codes(r), c.want, dumpErrors(r))
				}
			}
		})
	}
}

// memHistory is an in-memory journal: what the store will provide.
type memHistory struct {
	mu    sync.Mutex
	names map[string]bool
	keys  []InvoiceKey
	err   error
}

func (h *memHistory) FileNameSeen(_ context.Context, name string) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.names[name], h.err
}

func (h *memHistory) InvoiceSeen(_ context.Context, key InvoiceKey) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range h.keys {
		if key.Duplicates(k) {
			return true, h.err
		}
	}
	return false, h.err
}

func TestHistory(t *testing.T) {
	h := &memHistory{names: map[string]bool{"IT01234567897_00007.xml": true},
		keys: []InvoiceKey{{Cedente: "IT01234567897", TipoDocumento: "TD01", Numero: "FT-1", Data: "2024-01-10"}}}
	v, err := New(Config{Schema: testValidator(t).schema, History: h})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if r := v.Validate(ctx, "IT01234567897_00007.xml", build(t), Options{ReceivedAt: received}); !slices.Equal(codes(r), []string{"00002"}) {
		t.Errorf("file name seen: %v", codes(r))
	}
	r := v.Validate(ctx, testName, build(t), Options{ReceivedAt: received})
	if !slices.Equal(codes(r), []string{"00404"}) || !strings.HasSuffix(r.Errors[0].Path, "/Numero") {
		t.Errorf("invoice seen: %v", r.Errors)
	}
	if r := v.Validate(ctx, testName, build(t, set(dgd+"/Numero", "FT-2")), Options{ReceivedAt: received}); !r.Valid {
		t.Errorf("another number: %v", codes(r))
	}
	h.err = errors.New("journal down")
	r = v.Validate(ctx, testName, build(t), Options{ReceivedAt: received})
	if r.Valid || r.Err == nil || !strings.Contains(r.Err.Error(), "journal down") {
		t.Errorf("journal failure: valid %v err %v", r.Valid, r.Err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if r := v.Validate(canceled, testName, build(t), Options{}); r.Err == nil || r.Valid {
		t.Errorf("cancelled context: %v", r.Err)
	}
}

func TestEnteRules(t *testing.T) {
	var specs []rules.RuleSpec
	err := yaml.Unmarshal([]byte(`
- id: ordine
  path: DatiGenerali/DatiOrdineAcquisto/IdDocumento
  required: true
  message: "Fattura priva del numero d'ordine: indicarlo in DatiOrdineAcquisto/IdDocumento"
- id: cig-cup
  when: {path: DatiGenerali/DatiGeneraliDocumento/TipoDocumento, equals: TD01}
  path: //CodiceCIG | //CodiceCUP
  required: true
  exempt_suppliers: [IT06363391001]
  message: Fattura TD01 priva di CIG o CUP
`), &specs)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Compile(specs)
	if err != nil {
		t.Fatal(err)
	}
	v := testValidator(t)
	r := v.Validate(context.Background(), testName, build(t), Options{ReceivedAt: received, Rules: rs})
	if got := codes(r); !slices.Equal(got, []string{"EC02"}) || len(r.Errors) != 2 || r.Errors[0].Rule != "ordine" || r.Errors[1].Rule != "cig-cup" {
		t.Fatalf("rules: %+v", r.Errors)
	}
	if !strings.HasPrefix(r.Errors[0].Message, "Fattura priva del numero d'ordine") || r.Errors[0].Path != "/FatturaElettronica/FatturaElettronicaBody" {
		t.Errorf("EC02 error: %+v", r.Errors[0])
	}
	ok := build(t, ins(dg, "<DatiOrdineAcquisto><IdDocumento>ORD-7</IdDocumento><CodiceCIG>Z0A1B2C3D4</CodiceCIG></DatiOrdineAcquisto>", "DatiContratto"))
	if r := v.Validate(context.Background(), testName, ok, Options{ReceivedAt: received, Rules: rs}); !r.Valid {
		t.Fatalf("rules satisfied: %+v", r.Errors)
	}
}

func TestReportJSON(t *testing.T) {
	v := testValidator(t)
	r := v.Validate(context.Background(), testName, build(t, set(line1+"/PrezzoTotale", "21.00")), Options{ReceivedAt: received})
	// encoded as the CLI does, without HTML escaping of < and >
	encode := func(r *Report) []byte {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
		return bytes.TrimSpace(buf.Bytes())
	}
	b := encode(r)
	re := regexp.MustCompile(`^\{"file":"IT01234567897_00001\.xml","valid":false,"errors":\[\{"code":"00423","message":"2\.2\.1\.11 <PrezzoTotale> [^"]+","path":"/FatturaElettronica/FatturaElettronicaBody/DatiBeniServizi/DettaglioLinee/PrezzoTotale","line":\d+\}\]\}$`)
	if !re.Match(b) {
		t.Fatalf("JSON %s", b)
	}
	ok := encode(v.Validate(context.Background(), testName, build(t), Options{ReceivedAt: received}))
	if string(ok) != `{"file":"IT01234567897_00001.xml","valid":true,"errors":[]}` {
		t.Fatalf("JSON %s", ok)
	}
}

// TestConcurrentUse validates from several goroutines with one Validator.
func TestConcurrentUse(t *testing.T) {
	v := testValidator(t)
	docs := [][]byte{build(t), build(t, set(line1+"/PrezzoTotale", "21.00")), readSample(t, "IT01234567890_FPR02.xml")}
	want := [][]string{nil, {"00423"}, {"00200"}}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				k := (g + i) % len(docs)
				r := v.Validate(context.Background(), testName, docs[k], Options{ReceivedAt: received, SkipTaxIDs: true})
				if !slices.Equal(codes(r), want[k]) {
					errs <- fmt.Sprintf("doc %d: %v", k, codes(r))
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

var codeRE = regexp.MustCompile(`^(00[0-9]{3}|EC02)$`)

// FuzzValidate feeds arbitrary bytes under the three kinds of names: never a panic,
// always a coherent report.
func FuzzValidate(f *testing.F) {
	f.Add(0, build(f))
	f.Add(0, build(f, secondBody("FT-1", "TD01"), set(line1+"/PrezzoTotale", "1.00")))
	f.Add(1, readSample(f, "signed/IT01234567890_11111.xml.p7m"))
	f.Add(2, readSample(f, "IT01234567890_12006.zip"))
	f.Add(0, []byte(`<?xml version="1.0"?><!DOCTYPE a><a/>`))
	v := testValidator(f)
	names := []string{testName, "IT01234567897_00001.xml.p7m", "IT01234567897_00001.zip"}
	f.Fuzz(func(t *testing.T, kind int, data []byte) {
		name := names[(kind%3+3)%3]
		r := v.Validate(context.Background(), name, data, Options{ReceivedAt: received})
		check := func(r *Report) {
			if r.Valid != (len(r.Errors) == 0 && r.Err == nil) {
				t.Fatalf("incoherent verdict: valid %v errors %v err %v", r.Valid, r.Errors, r.Err)
			}
			for _, e := range r.Errors {
				if !codeRE.MatchString(e.Code) || e.Message == "" {
					t.Fatalf("bad error %+v", e)
				}
			}
		}
		check(r)
		for _, m := range r.Members {
			check(m)
		}
	})
}
