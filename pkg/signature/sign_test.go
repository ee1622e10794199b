package signature

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Documents to sign: the official unsigned invoice (CRLF, tabs) and XML that trips
// naive signers (a stylesheet PI, comments, a default namespace, a multi-line
// attribute, character references, a CDATA section).
var toSign = map[string][]byte{
	"tricky.xml": []byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<?xml-stylesheet type=\"text/xsl\" href=\"x.xsl\"?>\n<!-- prima -->\n" +
		"<p:FatturaElettronica xmlns:p=\"http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2\" xmlns=\"urn:default\" " +
		"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" versione=\"FPA12\"\r\n  xsi:schemaLocation=\"http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2\r\n\tfatturapa_v1.2.xsd\">\r\n" +
		"  <Header a='&#13;&#10;x' b=\"&quot;&amp;&lt;\"><!-- dentro -->Città &amp; Comune &#x20AC;<![CDATA[<cdata>]]></Header>\n" +
		"  <Vuoto/>\n</p:FatturaElettronica>\n<!-- dopo -->\n"),
}

func init() {
	data, err := os.ReadFile(filepath.Join(samplesDir, "IT01234567890_11111.xml"))
	if err == nil {
		toSign["IT01234567890_11111.xml"] = data
	}
}

func signers(t *testing.T) map[string]*Signer {
	p := thePKI(t)
	return map[string]*Signer{"RSA": p.signer(p.rsa), "ECDSA": p.signer(p.ec)}
}

// TestSignCAdESOpenSSL signs with RSA and ECDSA keys; openssl cms -verify (chain to the
// test root) and our Verifier both accept the envelope and give back the content.
func TestSignCAdESOpenSSL(t *testing.T) {
	openssl := needTool(t, "openssl", "openssl")
	p := thePKI(t)
	when := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	for kind, s := range signers(t) {
		for name, doc := range toSign {
			t.Run(kind+"/"+name, func(t *testing.T) {
				s.Now = func() time.Time { return when }
				p7m, err := s.SignCAdES(doc)
				if err != nil {
					t.Fatal(err)
				}
				path := writeTemp(t, name+".p7m", p7m)
				out, err := run(t, openssl, "cms", "-verify", "-CAfile", p.file("root"), "-binary", "-inform", "DER", "-in", path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out, doc) {
					t.Fatal("openssl unwrapped different content")
				}
				// openssl re-encodes what it parsed as DER: the bytes must not change.
				reenc, err := run(t, openssl, "cms", "-cmsout", "-inform", "DER", "-outform", "DER", "-in", path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(reenc, p7m) {
					t.Fatal("not DER: openssl re-encodes the envelope differently")
				}
				res, err := p.verifier().Verify(name+".p7m", p7m)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(res.Content, doc) || !res.SigningTime.Equal(when) || !res.CertificateBound || len(res.Chain) != 3 {
					t.Fatalf("result: time %v bound %v chain %d", res.SigningTime, res.CertificateBound, len(res.Chain))
				}
				if want := kind + "-SHA256"; res.Algorithm != want {
					t.Errorf("algorithm %q, want %q", res.Algorithm, want)
				}
			})
		}
	}
}

// TestSignXAdESXmlsec1 signs with RSA and ECDSA keys; xmlsec1 (chain to the test root)
// and our Verifier both accept the document, whose original bytes are all kept.
func TestSignXAdESXmlsec1(t *testing.T) {
	xmlsec := needTool(t, "xmlsec1", "xmlsec1")
	p := thePKI(t)
	for kind, s := range signers(t) {
		for name, doc := range toSign {
			t.Run(kind+"/"+name, func(t *testing.T) {
				s.Now = nil
				signed, err := s.SignXAdES(doc)
				if err != nil {
					t.Fatal(err)
				}
				end := bytes.LastIndex(doc, []byte("</"))
				if !bytes.HasPrefix(signed, doc[:end]) || !bytes.HasSuffix(signed, doc[end:]) {
					t.Fatal("the document's own bytes were changed")
				}
				path := writeTemp(t, name, signed)
				if _, err := run(t, xmlsec, "--verify", "--trusted-pem", p.file("root"), "--untrusted-pem", p.file("inter"),
					"--id-attr:Id", "http://uri.etsi.org/01903/v1.3.2#:SignedProperties", path); err != nil {
					t.Fatal(err)
				}
				res, err := p.verifier().Verify(name, signed)
				if err != nil {
					t.Fatal(err)
				}
				if res.Format != FormatXAdES || !res.CertificateBound || len(res.Chain) != 3 || res.SigningTime.IsZero() {
					t.Fatalf("result: %v bound %v chain %d time %v", res.Format, res.CertificateBound, len(res.Chain), res.SigningTime)
				}
				if _, err := s.SignXAdES(signed); err == nil {
					t.Error("signing an already signed document must fail")
				}
			})
		}
	}
}

func TestLoadSigner(t *testing.T) {
	p := thePKI(t)
	dir := t.TempDir()
	certFile, keyFile, err := p.rsa.WriteFiles(dir, "rsa")
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadSigner(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Cert.Equal(p.rsa.Cert) || len(s.Chain) != 1 || !s.Chain[0].Equal(p.inter.Cert) {
		t.Fatal("certificate or chain not loaded")
	}
	p7m, err := s.SignCAdES([]byte("<a/>"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.verifier().Verify("a.p7m", p7m); err != nil {
		t.Fatal(err)
	}

	_, otherKey, err := p.ec.WriteFiles(dir, "ec")
	if err != nil {
		t.Fatal(err)
	}
	garbage := writeTemp(t, "garbage.pem", []byte("not a key"))
	encrypted := writeTemp(t, "enc.pem", []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"))
	for name, c := range map[string][2]string{
		"key of another certificate": {certFile, otherKey},
		"missing cert":               {filepath.Join(dir, "nope.crt"), keyFile},
		"missing key":                {certFile, filepath.Join(dir, "nope.key")},
		"garbage key":                {certFile, garbage},
		"encrypted key":              {certFile, encrypted},
		"key as certificate":         {keyFile, keyFile},
	} {
		_, err := LoadSigner(c[0], c[1])
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), filepath.Base(c[0])) && !strings.Contains(err.Error(), filepath.Base(c[1])) {
			t.Errorf("%s: error does not name the file: %v", name, err)
		}
	}
}

func TestSignRefuses(t *testing.T) {
	p := thePKI(t)
	s := p.signer(p.rsa)
	for name, doc := range map[string]string{
		"empty root":  `<a/>`,
		"doctype":     `<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`,
		"not xml":     `hello`,
		"unbalanced":  `<a><b></a>`,
		"empty input": ``,
	} {
		if _, err := s.SignXAdES([]byte(doc)); err == nil {
			t.Errorf("SignXAdES %s: accepted", name)
		}
	}
	if _, err := s.SignCAdES(nil); err == nil {
		t.Error("SignCAdES of nothing accepted")
	}
	bad := &Signer{Key: p.ec.Key, Cert: p.rsa.Cert}
	if _, err := bad.SignCAdES([]byte("x")); err == nil {
		t.Error("key/certificate mismatch accepted")
	}
}
