package signature

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"snodo/pkg/testpki"
)

const invoiceXML = "<?xml version=\"1.0\"?>\n<p:FatturaElettronica xmlns:p=\"http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2\" versione=\"FPA12\"><Importo>100.00</Importo></p:FatturaElettronica>\n"

// base64Variants are the text forms of a DER envelope met in the wild.
func base64Variants(der []byte) map[string][]byte {
	one := base64.StdEncoding.EncodeToString(der)
	wrap := func(n int, eol string) string {
		var b strings.Builder
		for i := 0; i < len(one); i += n {
			b.WriteString(one[i:min(i+n, len(one))])
			b.WriteString(eol)
		}
		return b.String()
	}
	return map[string][]byte{
		"one line":          []byte(one),
		"one line + CRLF":   []byte(one + "\r\n"),
		"wrapped 64 LF":     []byte(wrap(64, "\n")),
		"wrapped 76 CRLF":   []byte(wrap(76, "\r\n")),
		"PEM PKCS7":         []byte("-----BEGIN PKCS7-----\n" + wrap(64, "\n") + "-----END PKCS7-----\n"),
		"PEM CMS CRLF":      []byte("-----BEGIN CMS-----\r\n" + wrap(64, "\r\n") + "-----END CMS-----\r\n"),
		"no padding":        []byte(strings.TrimRight(one, "=")),
		"leading blank+BOM": []byte("\xef\xbb\xbf\n  " + one),
	}
}

func TestCAdESBase64Variants(t *testing.T) {
	for _, sample := range []string{"IT01234567890_11111.xml.p7m", "IT01234567890_12001.xml.p7m"} {
		der := readSample(t, sample)
		_, want, err := Unwrap(sample, der)
		if err != nil {
			t.Fatal(err)
		}
		for name, text := range base64Variants(der) {
			t.Run(sample+"/"+name, func(t *testing.T) {
				if f := Detect(text); f != FormatCAdES {
					t.Fatalf("Detect = %v", f)
				}
				res, err := (&Verifier{IntegrityOnly: true}).Verify(sample, text)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(res.Content, want) {
					t.Fatal("content differs from the DER envelope's")
				}
			})
		}
	}
}

// TestCAdESOpenSSLVariants verifies envelopes made by openssl cms with the options
// signers use: BER streaming, SHA-1 and SHA-512, no signed attributes, -cades, ECDSA,
// and -keyid, which the pkcs7 library cannot read (a clear ErrUnsupported).
func TestCAdESOpenSSLVariants(t *testing.T) {
	openssl := needTool(t, "openssl", "openssl")
	p := thePKI(t)
	dir := t.TempDir()
	rsaCert, rsaKey, err := p.rsa.WriteFiles(dir, "rsa")
	if err != nil {
		t.Fatal(err)
	}
	ecCert, ecKey, err := p.ec.WriteFiles(dir, "ec")
	if err != nil {
		t.Fatal(err)
	}
	withSKI := issueCustom(t, p.inter, "Con SKI", func(c *x509.Certificate) { c.SubjectKeyId = []byte{1, 2, 3, 4, 5, 6, 7, 8} })
	skiCert, skiKey, err := withSKI.WriteFiles(dir, "ski")
	if err != nil {
		t.Fatal(err)
	}
	content := filepath.Join(dir, "invoice.xml")
	if err := os.WriteFile(content, []byte(invoiceXML), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		args  []string
		class *Class
		bound bool
		time  bool
	}{
		{"DER sha256", []string{"-signer", rsaCert, "-inkey", rsaKey}, nil, false, true},
		{"BER stream", []string{"-signer", rsaCert, "-inkey", rsaKey, "-stream"}, nil, false, true},
		{"cades", []string{"-signer", rsaCert, "-inkey", rsaKey, "-cades"}, nil, true, true},
		{"cades BER", []string{"-signer", rsaCert, "-inkey", rsaKey, "-cades", "-stream"}, nil, true, true},
		{"sha1", []string{"-signer", rsaCert, "-inkey", rsaKey, "-md", "sha1"}, nil, false, true},
		{"sha512", []string{"-signer", rsaCert, "-inkey", rsaKey, "-md", "sha512", "-cades"}, nil, true, true},
		{"noattr", []string{"-signer", rsaCert, "-inkey", rsaKey, "-noattr"}, nil, false, false},
		{"ecdsa", []string{"-signer", ecCert, "-inkey", ecKey, "-cades"}, nil, true, true},
		{"keyid", []string{"-signer", skiCert, "-inkey", skiKey, "-keyid"}, ErrUnsupported, false, false},
		{"detached", []string{"-signer", rsaCert, "-inkey", rsaKey}, ErrMalformed, false, false},
		{"nocerts", []string{"-signer", rsaCert, "-inkey", rsaKey, "-nocerts"}, ErrMalformed, false, false},
		{"pss", []string{"-signer", rsaCert, "-inkey", rsaKey, "-keyopt", "rsa_padding_mode:pss"}, ErrUnsupported, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".p7m")
			args := append([]string{"cms", "-sign", "-binary", "-nodetach", "-outform", "DER", "-in", content, "-out", out,
				"-certfile", p.file("inter")}, c.args...)
			if c.name == "detached" {
				args = append([]string{"cms", "-sign", "-binary", "-outform", "DER", "-in", content, "-out", out}, c.args...)
			}
			if _, err := run(t, openssl, args...); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			res, err := p.verifier().Verify(c.name+".p7m", data)
			wantClass(t, err, c.class)
			if err != nil {
				if c.name == "keyid" && !strings.Contains(err.Error(), "SubjectKeyIdentifier") {
					t.Errorf("the -keyid error must say what is unsupported: %v", err)
				}
				return
			}
			if string(res.Content) != invoiceXML {
				t.Fatal("content differs")
			}
			if res.CertificateBound != c.bound || res.SigningTime.IsZero() == c.time || len(res.Chain) != 3 {
				t.Fatalf("bound %v time %v chain %d", res.CertificateBound, res.SigningTime, len(res.Chain))
			}
			if c.time {
				return
			}
			// Without a signing time, RequireSigningTime refuses with 00103.
			v := p.verifier()
			v.RequireSigningTime = true
			_, err = v.Verify(c.name+".p7m", data)
			wantClass(t, err, ErrNoTimeReference)
		})
	}
}

// TestCAdESNested verifies a .p7m signed again (two envelopes): both signatures are
// checked and the content is the innermost document.
func TestCAdESNested(t *testing.T) {
	p := thePKI(t)
	inner, err := p.signer(p.rsa).SignCAdES([]byte(invoiceXML))
	if err != nil {
		t.Fatal(err)
	}
	outer, err := p.signer(p.ec).SignCAdES(inner)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.verifier().Verify("IT01234567890_1.xml.p7m.p7m", outer)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Content) != invoiceXML || len(res.Signatures()) != 2 ||
		!res.Signer.Equal(p.ec.Cert) || !res.Cosignatures[0].Signer.Equal(p.rsa.Cert) {
		t.Fatalf("nested: %d signatures", len(res.Signatures()))
	}
	// The inner envelope's tampering is found through the outer one... which breaks
	// first: the outer digest covers the inner bytes.
	bad := bytes.Replace(outer, []byte("100.00"), []byte("900.00"), 1)
	_, err = p.verifier().Verify("x", bad)
	wantClass(t, err, ErrContentAltered)

	deep := []byte(invoiceXML)
	for range maxNesting + 1 {
		if deep, err = p.signer(p.rsa).SignCAdES(deep); err != nil {
			t.Fatal(err)
		}
	}
	_, err = p.verifier().Verify("deep", deep)
	wantClass(t, err, ErrUnsupported)
}

// TestCAdESVerdicts covers each verdict class with an envelope made to fail exactly that
// check.
func TestCAdESVerdicts(t *testing.T) {
	p := thePKI(t)
	now := time.Now()
	sign := func(t *testing.T, s *Signer, at time.Time) []byte {
		t.Helper()
		s.Now = func() time.Time { return at }
		b, err := s.SignCAdES([]byte(invoiceXML))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	utc := func(tm time.Time) []byte { return []byte(tm.UTC().Format("060102150405Z")) }
	fixed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if fixed.Before(p.rsa.Cert.NotBefore) {
		fixed = p.rsa.Cert.NotBefore.Add(time.Hour).Truncate(time.Second)
	}

	// A CRL from the intermediate revoking the RSA signer (valid from an hour ago) half an hour ago.
	revokedAt := now.Add(-30 * time.Minute)
	crlDER, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: revokedAt, NextUpdate: now.Add(30 * 24 * time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: p.rsa.Cert.SerialNumber, RevocationTime: revokedAt}},
	}, p.inter.Cert, p.inter.Key)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(crlDER)
	if err != nil {
		t.Fatal(err)
	}
	withCRL := p.verifier()
	withCRL.Trust.AddCRL(crl)

	// A certificate allowed only to encipher keys.
	noSign := issueCustom(t, p.inter, "Solo cifratura", func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment })

	wrongESS := p.signer(p.rsa)
	wrongESS.essCert = p.ec.Cert

	cases := []struct {
		name  string
		data  func(t *testing.T) []byte
		v     *Verifier
		class *Class
	}{
		{"valid", func(t *testing.T) []byte { return sign(t, p.signer(p.rsa), now) }, p.verifier(), nil},
		{"content altered", func(t *testing.T) []byte {
			return bytes.Replace(sign(t, p.signer(p.rsa), now), []byte("100.00"), []byte("900.00"), 1)
		}, p.verifier(), ErrContentAltered},
		{"signed attribute altered", func(t *testing.T) []byte {
			return bytes.Replace(sign(t, p.signer(p.rsa), fixed), utc(fixed), utc(fixed.Add(time.Second)), 1)
		}, p.verifier(), ErrSignatureValue},
		{"wrong certHash in signingCertificateV2", func(t *testing.T) []byte { return sign(t, wrongESS, now) }, p.verifier(), ErrSigningCertificate},
		{"expired at signing time", func(t *testing.T) []byte { return sign(t, p.signer(p.expired), now) }, p.verifier(), ErrExpired},
		{"expired now, valid at signing time", func(t *testing.T) []byte {
			return sign(t, p.signer(p.expired), p.expired.Cert.NotBefore.Add(24*time.Hour))
		}, p.verifier(), nil},
		{"not yet valid at signing time", func(t *testing.T) []byte {
			return sign(t, p.signer(p.rsa), p.rsa.Cert.NotBefore.Add(-time.Hour))
		}, p.verifier(), ErrCertificateInvalid},
		{"signing time in the future", func(t *testing.T) []byte { return sign(t, p.signer(p.rsa), now.Add(2*time.Hour)) }, p.verifier(), ErrTimeInconsistent},
		{"untrusted CA", func(t *testing.T) []byte { return sign(t, p.signer(p.rsa), now) }, &Verifier{Trust: NewTrustStore(p.other.Cert)}, ErrUntrustedCA},
		{"no trust anchors", func(t *testing.T) []byte { return sign(t, p.signer(p.rsa), now) }, &Verifier{}, ErrUntrustedCA},
		{"intermediate as the only anchor", func(t *testing.T) []byte { return sign(t, p.signer(p.rsa), now) }, &Verifier{Trust: NewTrustStore(p.inter.Cert)}, nil},
		{"revoked before signing", func(t *testing.T) []byte { return sign(t, p.signer(p.rsa), now) }, withCRL, ErrRevoked},
		{"revoked after signing", func(t *testing.T) []byte { return sign(t, p.signer(p.rsa), now.Add(-45*time.Minute)) }, withCRL, nil},
		{"key usage without signing", func(t *testing.T) []byte { return sign(t, p.signer(noSign), now) }, p.verifier(), ErrCertificateInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.v.Verify("IT01234567890_00001.xml.p7m", c.data(t))
			wantClass(t, err, c.class)
			if err != nil && !strings.HasPrefix(err.Error(), "IT01234567890_00001.xml.p7m: ") {
				t.Errorf("error does not name the input: %v", err)
			}
		})
	}
}

// issueCustom issues a signing certificate from ca, reshaped by shape.
func issueCustom(t *testing.T, ca *testpki.CA, cn string, shape func(*x509.Certificate)) *testpki.Issued {
	t.Helper()
	leaf, err := ca.Signing(cn, testpki.Options{Key: testpki.RSA})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := *leaf.Cert
	tmpl.Subject = pkix.Name{CommonName: cn}
	shape(&tmpl)
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca.Cert, leaf.Key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testpki.Issued{Cert: c, Key: leaf.Key, Chain: leaf.Chain}
}

// TestCAdESHostile feeds broken and hostile envelopes: each is an ErrMalformed (or
// ErrUnsupported) naming the input, never a panic or a hang.
func TestCAdESHostile(t *testing.T) {
	good := readSample(t, "IT01234567890_11111.xml.p7m")
	deep := bytes.Repeat([]byte{0x30, 0x80}, 100000)
	cases := map[string][]byte{
		"empty":                  {},
		"only SEQUENCE tag":      {0x30},
		"huge length":            {0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x06},
		"deep indefinite":        deep,
		"missing end-of-content": good[:len(good)-2],
		"trailing garbage":       append(append([]byte{}, good...), "garbage"...),
		"base64 garbage":         []byte("MIIB!!!!"),
		"base64 of junk":         []byte(base64.StdEncoding.EncodeToString([]byte("0\x80junkjunkjunkjunk"))),
		"wrong content type":     {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x00},
		"not a format":           []byte("%PDF-1.4"),
	}
	for i := 10; i < len(good); i += len(good) / 40 {
		cases["truncated at "+strconv.Itoa(i)] = good[:i]
	}
	v := &Verifier{IntegrityOnly: true, MaxSize: 1 << 20}
	cases["over MaxSize"] = make([]byte, 2<<20)
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify("hostile.p7m", data)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errorsIsAny(err, ErrMalformed, ErrUnsupported) {
				t.Fatalf("want ErrMalformed or ErrUnsupported, got %v", err)
			}
			if !strings.HasPrefix(err.Error(), "hostile.p7m: ") {
				t.Errorf("error does not name the input: %v", err)
			}
			if _, _, err := Unwrap("hostile.p7m", data); err == nil && len(data) > 0 && name != "over MaxSize" {
				t.Error("Unwrap accepted what Verify refused")
			}
		})
	}
}

func errorsIsAny(err error, classes ...*Class) bool {
	for _, c := range classes {
		if errors.Is(err, c) {
			return true
		}
	}
	return false
}
