package signature

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"snodo/pkg/xmlsafe"
)

func signXAdES(t *testing.T, s *Signer, doc string) []byte {
	t.Helper()
	out, err := s.SignXAdES([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestXAdESVerdicts covers each verdict class with a document made to fail exactly
// that check.
func TestXAdESVerdicts(t *testing.T) {
	p := thePKI(t)
	now := time.Now()
	at := func(s *Signer, tm time.Time) *Signer { s.Now = func() time.Time { return tm }; return s }
	signed := signXAdES(t, p.signer(p.rsa), invoiceXML)
	spID := regexp.MustCompile(`SignedProperties Id="([^"]+)"`).FindSubmatch(signed)[1]
	wrongESS := p.signer(p.rsa)
	wrongESS.essCert = p.ec.Cert
	cases := []struct {
		name  string
		data  []byte
		v     *Verifier
		class *Class
	}{
		{"valid", signed, p.verifier(), nil},
		{"valid ECDSA", signXAdES(t, p.signer(p.ec), invoiceXML), p.verifier(), nil},
		{"content altered", bytes.Replace(signed, []byte("100.00"), []byte("900.00"), 1), p.verifier(), ErrContentAltered},
		{"attribute added to the root", bytes.Replace(signed, []byte(`versione="FPA12"`), []byte(`versione="FPA12" x="1"`), 1), p.verifier(), ErrContentAltered},
		{"SigningTime altered", regexp.MustCompile(`<xades:SigningTime>\d{4}`).ReplaceAll(signed, []byte("<xades:SigningTime>2001")), p.verifier(), ErrSignedProperties},
		{"SignedInfo altered", bytes.Replace(signed, []byte(`Id="Reference-document-`), []byte(`Id="Reference-documenX-`), 1), p.verifier(), ErrSignatureValue},
		{"certificate swapped in KeyInfo", bytes.Replace(signed, []byte(base64.StdEncoding.EncodeToString(p.rsa.Cert.Raw)),
			[]byte(base64.StdEncoding.EncodeToString(p.ec.Cert.Raw)), 1), p.verifier(), ErrSignatureValue},
		{"wrong SigningCertificate digest", signXAdES(t, wrongESS, invoiceXML), p.verifier(), ErrSigningCertificate},
		{"expired at signing time", signXAdES(t, at(p.signer(p.expired), now), invoiceXML), p.verifier(), ErrExpired},
		{"expired now, valid at signing time", signXAdES(t, at(p.signer(p.expired), p.expired.Cert.NotBefore.Add(time.Hour)), invoiceXML), p.verifier(), nil},
		{"signing time in the future", signXAdES(t, at(p.signer(p.rsa), now.Add(time.Hour)), invoiceXML), p.verifier(), ErrTimeInconsistent},
		{"untrusted CA", signed, &Verifier{Trust: NewTrustStore(p.other.Cert)}, ErrUntrustedCA},
		{"duplicate Id (signature wrapping)", bytes.Replace(signed, []byte("<Importo>"), append(append([]byte(`<X Id="`), spID...), `"/><Importo>`...), 1), p.verifier(), ErrMalformed},
		{"SignatureValue removed", regexp.MustCompile(`(?s)<ds:SignatureValue.*</ds:SignatureValue>`).ReplaceAll(signed, nil), p.verifier(), ErrMalformed},
		{"KeyInfo removed", regexp.MustCompile(`(?s)<ds:KeyInfo>.*</ds:KeyInfo>`).ReplaceAll(signed, nil), p.verifier(), ErrMalformed},
		{"SignatureValue not base64", regexp.MustCompile(`(?s)(<ds:SignatureValue[^>]*>)[^<]*`).ReplaceAll(signed, []byte("${1}***")), p.verifier(), ErrMalformed},
		{"XSLT transform", bytes.Replace(signed, []byte(algEnveloped), []byte("http://www.w3.org/TR/1999/REC-xslt-19991116"), 1), p.verifier(), ErrUnsupported},
		{"external reference", bytes.Replace(signed, []byte(`URI=""`), []byte(`URI="http://example.org/fattura.xml"`), 1), p.verifier(), ErrUnsupported},
		{"unknown signature method", bytes.Replace(signed, []byte(nsDSigMore+"rsa-sha256"), []byte(nsDSigMore+"rsa-md5"), 1), p.verifier(), ErrUnsupported},
		{"unknown digest method", bytes.Replace(signed, []byte(nsXMLEnc+"sha256"), []byte(nsDSigMore+"md5"), 1), p.verifier(), ErrUnsupported},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := c.v.Verify("IT01234567890_00001.xml", c.data)
			wantClass(t, err, c.class)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "IT01234567890_00001.xml: ") {
					t.Errorf("error does not name the input: %v", err)
				}
				return
			}
			if res.Format != FormatXAdES || !bytes.Equal(res.Content, c.data) || !res.CertificateBound {
				t.Fatalf("result %v bound %v", res.Format, res.CertificateBound)
			}
		})
	}
}

// template is an enveloping-free XAdES template xmlsec1 --sign fills in.
type template struct {
	siCanon, siExtra string // SignedInfo CanonicalizationMethod and its content
	sigAlg, digest   string
	docURI, docTr    string // document reference URI and Transform elements
	spTr             string // SignedProperties reference Transform elements ("" none)
	noDocRef         bool
	noSPRef          bool
	noObject         bool
	rootID           string
	keyInfoRef       bool   // sign ds:KeyInfo too, as the SdI does
	signingCert      string // xades:SigningCertificate(V2) element, inside SignedSignatureProperties
}

const (
	tplC14N10   = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
	tplC14N10C  = tplC14N10 + "#WithComments"
	tplC14N11   = "http://www.w3.org/2006/12/xml-c14n11"
	tplExc      = "http://www.w3.org/2001/10/xml-exc-c14n#"
	tplExcC     = tplExc + "WithComments"
	tplRSA256   = nsDSigMore + "rsa-sha256"
	tplSHA256   = nsXMLEnc + "sha256"
	tplEnvelope = `<ds:Transform Algorithm="` + algEnveloped + `"/>`
)

func tr(alg string) string { return `<ds:Transform Algorithm="` + alg + `"/>` }

func (tp template) render() string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<?xml-stylesheet type=\"text/xsl\" href=\"x.xsl\"?>\n<!-- commento esterno -->\n")
	b.WriteString(`<doc xmlns="urn:d" xmlns:a="urn:a" xmlns:unused="urn:u" xml:lang="it"`)
	if tp.rootID != "" {
		b.WriteString(` Id="` + tp.rootID + `"`)
	}
	b.WriteString(">\n  <a:item a:k=\"v\" b=\"1\">testo &amp; più<!-- interno --></a:item>\r\n  <vuoto/>\n")
	b.WriteString(`<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="S1"><ds:SignedInfo>`)
	b.WriteString(`<ds:CanonicalizationMethod Algorithm="` + tp.siCanon + `">` + tp.siExtra + `</ds:CanonicalizationMethod>`)
	b.WriteString(`<ds:SignatureMethod Algorithm="` + tp.sigAlg + `"/>`)
	if !tp.noDocRef {
		b.WriteString(`<ds:Reference URI="` + tp.docURI + `"><ds:Transforms>` + tp.docTr + `</ds:Transforms>`)
		b.WriteString(`<ds:DigestMethod Algorithm="` + tp.digest + `"/><ds:DigestValue/></ds:Reference>`)
	}
	if tp.keyInfoRef {
		b.WriteString(`<ds:Reference URI="#KI"><ds:DigestMethod Algorithm="` + tp.digest + `"/><ds:DigestValue/></ds:Reference>`)
	}
	if !tp.noSPRef {
		b.WriteString(`<ds:Reference URI="#SP1" Type="http://uri.etsi.org/01903#SignedProperties">`)
		if tp.spTr != "" {
			b.WriteString(`<ds:Transforms>` + tp.spTr + `</ds:Transforms>`)
		}
		b.WriteString(`<ds:DigestMethod Algorithm="` + tp.digest + `"/><ds:DigestValue/></ds:Reference>`)
	}
	b.WriteString(`</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo Id="KI"><ds:X509Data/></ds:KeyInfo>`)
	if !tp.noObject {
		b.WriteString(`<ds:Object><xades:QualifyingProperties xmlns:xades="http://uri.etsi.org/01903/v1.3.2#" Target="#S1">`)
		b.WriteString(`<xades:SignedProperties Id="SP1"><xades:SignedSignatureProperties><xades:SigningTime>2020-01-02T03:04:05+01:00</xades:SigningTime>` + tp.signingCert)
		b.WriteString(`</xades:SignedSignatureProperties></xades:SignedProperties></xades:QualifyingProperties></ds:Object>`)
	}
	b.WriteString("</ds:Signature></doc>\n<!-- dopo -->\n")
	return b.String()
}

// signingCertificate renders a xades:SigningCertificate(V2) naming the certificate der.
func signingCertificate(tag, hash string, der []byte) string {
	alg, sum := nsDSig+"sha1", sha1.Sum(der)
	digest := sum[:]
	if hash == "sha256" {
		s := sha256.Sum256(der)
		alg, digest = nsXMLEnc+"sha256", s[:]
	}
	return `<xades:` + tag + `><xades:Cert><xades:CertDigest><ds:DigestMethod Algorithm="` + alg + `"/><ds:DigestValue>` +
		base64.StdEncoding.EncodeToString(digest) + `</ds:DigestValue></xades:CertDigest></xades:Cert></xades:` + tag + `>`
}

// TestXAdESInteropXmlsec1 has xmlsec1 sign templates using every canonicalization and
// transform the verifier supports (the reference implementation computes the digests),
// then verifies them here. Structural faults xmlsec1 happily signs are caught too.
func TestXAdESInteropXmlsec1(t *testing.T) {
	xmlsec := needTool(t, "xmlsec1", "xmlsec1")
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
	filter2 := `<ds:Transform Algorithm="` + algFilter2 + `"><XPath xmlns="` + nsFilter2 + `" Filter="subtract">/descendant::ds:Signature</XPath></ds:Transform>`
	xpath := `<ds:Transform Algorithm="` + algXPath + `"><ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>`
	incl := `<ec:InclusiveNamespaces xmlns:ec="` + nsExcC14N + `" PrefixList="a #default"/>`
	base := template{siCanon: tplC14N10, sigAlg: tplRSA256, digest: tplSHA256, docTr: tplEnvelope}
	with := func(f func(*template)) template { tp := base; f(&tp); return tp }
	cases := []struct {
		name   string
		tp     template
		ec     bool
		class  *Class
		bound  bool
		noTime bool
	}{
		{"c14n 1.0, enveloped, default c14n", base, false, nil, false, false},
		{"c14n 1.1 everywhere", with(func(tp *template) {
			tp.siCanon, tp.docTr, tp.spTr = tplC14N11, tplEnvelope+tr(tplC14N11), tr(tplC14N11)
		}), false, nil, false, false},
		{"exclusive with PrefixList, filter2, comments dropped", with(func(tp *template) {
			tp.siCanon, tp.siExtra = tplExc, incl
			tp.docTr, tp.spTr = filter2+`<ds:Transform Algorithm="`+tplExcC+`">`+incl+`</ds:Transform>`, tr(tplExc)
		}), false, nil, false, false},
		{"XPath not(ancestor-or-self), c14n with comments", with(func(tp *template) {
			tp.siCanon, tp.docTr = tplC14N10C, xpath+tr(tplC14N10C)
		}), false, nil, false, false},
		{"xpointer(/) keeps comments", with(func(tp *template) {
			tp.docURI, tp.docTr = "#xpointer(/)", tplEnvelope+tr(tplC14N10C)
		}), false, nil, false, false},
		{"document by root Id", with(func(tp *template) { tp.docURI, tp.rootID = "#D1", "D1" }), false, nil, false, false},
		{"rsa-sha1", with(func(tp *template) { tp.sigAlg, tp.digest = nsDSig+"rsa-sha1", nsDSig+"sha1" }), false, nil, false, false},
		{"rsa-sha512", with(func(tp *template) { tp.sigAlg, tp.digest = nsDSigMore+"rsa-sha512", nsXMLEnc+"sha512" }), false, nil, false, false},
		{"rsa-sha384 exclusive", with(func(tp *template) {
			tp.sigAlg, tp.digest, tp.siCanon = nsDSigMore+"rsa-sha384", nsDSigMore+"sha384", tplExc
		}), false, nil, false, false},
		{"ecdsa-sha256", with(func(tp *template) { tp.sigAlg = nsDSigMore + "ecdsa-sha256" }), true, nil, false, false},
		{"ecdsa-sha512", with(func(tp *template) { tp.sigAlg, tp.digest = nsDSigMore+"ecdsa-sha512", nsXMLEnc+"sha512" }), true, nil, false, false},
		{"signed KeyInfo, as the SdI does", with(func(tp *template) { tp.keyInfoRef = true }), false, nil, true, false},
		{"SigningCertificate v1, SHA-1", with(func(tp *template) { tp.signingCert = signingCertificate("SigningCertificate", "sha1", p.rsa.Cert.Raw) }), false, nil, true, false},
		{"SigningCertificateV2, SHA-256", with(func(tp *template) {
			tp.signingCert = signingCertificate("SigningCertificateV2", "sha256", p.rsa.Cert.Raw)
		}), false, nil, true, false},
		{"SigningCertificateV2 of another certificate", with(func(tp *template) {
			tp.signingCert = signingCertificate("SigningCertificateV2", "sha256", p.ec.Cert.Raw)
		}), false, ErrSigningCertificate, false, false},
		{"plain XMLDSig, no XAdES", with(func(tp *template) { tp.noObject, tp.noSPRef = true, true }), false, nil, false, true},
		{"document not covered", with(func(tp *template) { tp.noDocRef = true }), false, ErrSignatureValue, false, false},
		{"SignedProperties not signed", with(func(tp *template) { tp.noSPRef = true }), false, ErrSignedProperties, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tpl := filepath.Join(dir, "tpl.xml")
			out := filepath.Join(dir, "out.xml")
			if err := os.WriteFile(tpl, []byte(c.tp.render()), 0o644); err != nil {
				t.Fatal(err)
			}
			key, cert := rsaKey, rsaCert
			if c.ec {
				key, cert = ecKey, ecCert
			}
			if _, err := run(t, xmlsec, "--sign", "--privkey-pem", key+","+cert, "--id-attr:Id", "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
				"--id-attr:Id", "urn:d:doc", "--output", out, tpl); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			res, err := (&Verifier{IntegrityOnly: true}).Verify(c.name, data)
			wantClass(t, err, c.class)
			if err != nil {
				return
			}
			if res.SigningTime.IsZero() != c.noTime || res.CertificateBound != c.bound {
				t.Fatalf("signing time %v, bound %v", res.SigningTime, res.CertificateBound)
			}
			if !c.noTime && !res.SigningTime.Equal(time.Date(2020, 1, 2, 2, 4, 5, 0, time.UTC)) {
				t.Fatalf("signing time %v", res.SigningTime)
			}
			// One changed character of the document breaks what xmlsec1 signed.
			_, err = (&Verifier{IntegrityOnly: true}).Verify(c.name, bytes.Replace(data, []byte("testo"), []byte("Testo"), 1))
			wantClass(t, err, ErrContentAltered)
			if c.tp.keyInfoRef {
				// Whitespace added inside the signed KeyInfo: the certificate is intact, its reference is not.
				_, err = (&Verifier{IntegrityOnly: true}).Verify(c.name, bytes.Replace(data, []byte("<ds:X509Data>"), []byte("<ds:X509Data> "), 1))
				wantClass(t, err, ErrSigningCertificate)
			}
		})
	}
}

// TestXAdESHostile feeds hostile XML: each is refused with a clear error naming the
// input, never a panic or a hang.
func TestXAdESHostile(t *testing.T) {
	p := thePKI(t)
	signed := string(signXAdES(t, p.signer(p.rsa), invoiceXML))
	cases := map[string]string{
		"doctype entity":                 `<!DOCTYPE a [<!ENTITY x "y">]><a><ds:Signature xmlns:ds="` + nsDSig + `"/>&x;</a>`,
		"billion laughs":                 `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>`,
		"external entity":                `<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>`,
		"not well-formed":                `<a><ds:Signature xmlns:ds="` + nsDSig + `"></a>`,
		"two roots":                      signed + "<b/>",
		"deep nesting":                   strings.Repeat("<a>", 5000) + `<ds:Signature xmlns:ds="` + nsDSig + `"/>` + strings.Repeat("</a>", 5000),
		"UTF-16":                         "\xff\xfe<\x00a\x00/\x00>\x00",
		"many references":                strings.Replace(signed, "<ds:SignedInfo>", "<ds:SignedInfo>"+strings.Repeat(`<ds:Reference URI=""/>`, 40), 1),
		"empty signature":                `<a><ds:Signature xmlns:ds="` + nsDSig + `"/></a>`,
		"undeclared prefix in signature": strings.Replace(signed, "<ds:SignedInfo>", "<ds:SignedInfo><x:y/>", 1),
		"repeated attribute":             strings.Replace(signed, `versione="FPA12"`, `versione="FPA12" versione="FPA11"`, 1),
		"reference to nothing":           strings.Replace(signed, `URI="#SignedProperties-`, `URI="#Nothing-`, 1),
		"reference without URI":          strings.Replace(signed, `URI=""`, ``, 1),
		"latin-1 bytes":                  "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>citt\xe0<ds:Signature xmlns:ds=\"" + nsDSig + "\"/></a>",
	}
	v := p.verifier()
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify("hostile.xml", []byte(doc))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errorsIsAny(err, ErrMalformed, ErrUnsupported, ErrSignatureValue) {
				t.Fatalf("unexpected class: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "hostile.xml: ") {
				t.Errorf("error does not name the input: %v", err)
			}
		})
	}
	_, err := v.Verify("dtd.xml", []byte(cases["doctype entity"]))
	if !errors.Is(err, xmlsafe.ErrDoctype) {
		t.Errorf("a DOCTYPE must be refused by xmlsafe: %v", err)
	}
}

func TestDetect(t *testing.T) {
	p7m := readSample(t, "IT01234567890_11111.xml.p7m")
	for name, c := range map[string]struct {
		data string
		want Format
	}{
		"plain invoice":          {invoiceXML, FormatPlain},
		"ds declared, unsigned":  {`<a xmlns:ds="` + nsDSig + `"><SignatureX/><ds:SignatureValue/></a>`, FormatPlain},
		"prefixed Signature":     {`<a><ds:Signature xmlns:ds="x">`, FormatXAdES},
		"default-ns Signature":   {"<a><Signature\nxmlns=\"x\"/>", FormatXAdES},
		"DER":                    {string(p7m), FormatCAdES},
		"base64":                 {base64.StdEncoding.EncodeToString(p7m), FormatCAdES},
		"base64 of something":    {base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789")), FormatUnknown},
		"PDF":                    {"%PDF-1.7", FormatUnknown},
		"empty":                  {"", FormatUnknown},
		"blank":                  {" \r\n", FormatUnknown},
		"DER of another content": {"\x30\x03\x02\x01\x01", FormatUnknown},
	} {
		if got := Detect([]byte(c.data)); got != c.want {
			t.Errorf("%s: Detect = %v, want %v", name, got, c.want)
		}
	}
}
