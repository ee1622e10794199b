package signature

// Benchmarks: go test -run XXX -bench . -benchtime 2s ./pkg/signature/
// Figures and the reading of them: docs/benchmarks/signature.md.

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// invoiceOfSize returns an invoice-shaped document of about n bytes.
func invoiceOfSize(n int) []byte {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<p:FatturaElettronica xmlns:p=\"http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2\" " +
		"xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" versione=\"FPA12\">\n<FatturaElettronicaBody><DatiBeniServizi>\n")
	for i := 1; b.Len() < n-200; i++ {
		fmt.Fprintf(&b, "  <DettaglioLinee><NumeroLinea>%d</NumeroLinea><Descrizione>Servizio di manutenzione ordinaria n. %d</Descrizione>"+
			"<PrezzoUnitario>100.00</PrezzoUnitario><PrezzoTotale>100.00</PrezzoTotale><AliquotaIVA>22.00</AliquotaIVA></DettaglioLinee>\n", i, i)
	}
	b.WriteString("</DatiBeniServizi></FatturaElettronicaBody>\n</p:FatturaElettronica>\n")
	return []byte(b.String())
}

func BenchmarkVerify(b *testing.B) {
	p := thePKI(b)
	doc := invoiceOfSize(10 << 10)
	p7m, err := p.signer(p.rsa).SignCAdES(doc)
	if err != nil {
		b.Fatal(err)
	}
	xades, err := p.signer(p.rsa).SignXAdES(doc)
	if err != nil {
		b.Fatal(err)
	}
	big := readSample(b, "IT01234567890_12001.xml.p7m")
	res, err := (&Verifier{IntegrityOnly: true}).Verify("12001", big)
	if err != nil {
		b.Fatal(err)
	}
	bigV := &Verifier{Trust: NewTrustStore(res.Signer), Now: func() time.Time { return time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC) }}
	cases := []struct {
		name string
		v    *Verifier
		data []byte
	}{
		{"CAdES-10KB", p.verifier(), p7m},
		{"CAdES-1.95MB-sample", bigV, big},
		{"XAdES-10KB", p.verifier(), xades},
		{"XAdES-RC-sample-integrity", &Verifier{IntegrityOnly: true}, readSample(b, "IT01234567890_11111_RC_001.xml")},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				if _, err := c.v.Verify(c.name, c.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReferenceTools is the baseline: one openssl or xmlsec1 process per file, as
// a hub shelling out would run them, on the same files as BenchmarkVerify.
func BenchmarkReferenceTools(b *testing.B) {
	openssl := needTool(b, "openssl", "openssl")
	xmlsec := needTool(b, "xmlsec1", "xmlsec1")
	p := thePKI(b)
	doc := invoiceOfSize(10 << 10)
	p7m, err := p.signer(p.rsa).SignCAdES(doc)
	if err != nil {
		b.Fatal(err)
	}
	xades, err := p.signer(p.rsa).SignXAdES(doc)
	if err != nil {
		b.Fatal(err)
	}
	p7mFile := writeTemp(b, "10k.p7m", p7m)
	xadesFile := writeTemp(b, "10k.xml", xades)
	big := filepath.Join(samplesDir, "IT01234567890_12001.xml.p7m")
	cases := []struct {
		name string
		tool string
		args []string
	}{
		{"openssl-cms-verify-10KB", openssl, []string{"cms", "-verify", "-CAfile", p.file("root"), "-binary", "-inform", "DER", "-in", p7mFile, "-out", "/dev/null"}},
		{"openssl-cms-verify-1.95MB-sample", openssl, []string{"cms", "-verify", "-noverify", "-binary", "-inform", "DER", "-in", big, "-out", "/dev/null"}},
		{"xmlsec1-verify-10KB", xmlsec, []string{"--verify", "--trusted-pem", p.file("root"), "--untrusted-pem", p.file("inter"),
			"--id-attr:Id", "http://uri.etsi.org/01903/v1.3.2#:SignedProperties", xadesFile}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if out, err := exec.Command(c.tool, c.args...).CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, out)
				}
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	p := thePKI(b)
	doc := invoiceOfSize(10 << 10)
	for _, kind := range []string{"RSA", "ECDSA"} {
		s := p.signer(p.rsa)
		if kind == "ECDSA" {
			s = p.signer(p.ec)
		}
		b.Run("CAdES-10KB-"+kind, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.SignCAdES(doc); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("XAdES-10KB-"+kind, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.SignXAdES(doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
