package signature

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"slices"
	"time"

	"github.com/beevik/etree"

	"snodo/pkg/signature/c14n"
	"snodo/pkg/xmlsafe"
)

// Signer makes CAdES-BES and XAdES-BES signatures with one key and certificate, as the
// hub does for the active cycle (invoices an ente sends through the hub's signature).
// Both use SHA-256; RSA keys sign with PKCS#1 v1.5, ECDSA keys with ECDSA. A Signer is
// safe for concurrent use when its Key is (as Go's RSA and ECDSA keys are).
type Signer struct {
	Key   crypto.Signer
	Cert  *x509.Certificate
	Chain []*x509.Certificate // intermediate CAs, carried in the signature (root excluded)
	// Now gives the signing time (default time.Now).
	Now func() time.Time

	// essCert, when set (tests only), is the certificate the signed attributes name
	// instead of Cert: a signature whose certificate reference does not match.
	essCert *x509.Certificate
}

// LoadSigner reads a signer from PEM files: certFile holds the signing certificate
// followed by its intermediates; keyFile the unencrypted private key (PKCS#8, PKCS#1 or
// SEC 1), RSA or ECDSA, matching the certificate.
func LoadSigner(certFile, keyFile string) (*Signer, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("signature: certificato di firma %s non leggibile (signing certificate unreadable): %w", certFile, err)
	}
	var certs []*x509.Certificate
	for rest := certPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("signature: %s: certificato n. %d non valido (certificate #%d invalid): %w", certFile, len(certs)+1, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("signature: %s: nessun certificato PEM (no PEM CERTIFICATE block)", certFile)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("signature: chiave di firma %s non leggibile (signing key unreadable): %w", keyFile, err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("signature: %s: %w", keyFile, err)
	}
	s := &Signer{Key: key, Cert: certs[0], Chain: certs[1:]}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("signature: %s, %s: %w", certFile, keyFile, err)
	}
	return s, nil
}

func parseKey(data []byte) (crypto.Signer, error) {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("nessuna chiave privata PEM (no PEM private key block)")
		}
		if _, encrypted := b.Headers["Proc-Type"]; encrypted || b.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, errors.New("chiave cifrata non supportata: fornire la chiave in chiaro con permessi 0600 (encrypted key not supported: provide it unencrypted, mode 0600)")
		}
		var key any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("chiave privata non valida (private key invalid): %w", err)
		}
		switch k := key.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case *ecdsa.PrivateKey:
			return k, nil
		}
		return nil, fmt.Errorf("chiave %T non supportata: usare RSA o ECDSA (key %T not supported: use RSA or ECDSA)", key, key)
	}
}

// check refuses a signer whose key does not match its certificate.
func (s *Signer) check() error {
	if s.Key == nil || s.Cert == nil {
		return errors.New("signer without key or certificate")
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := s.Key.Public().(equaler)
	if !ok || !pub.Equal(s.Cert.PublicKey) {
		return errors.New("la chiave privata non corrisponde al certificato (the private key does not match the certificate)")
	}
	switch s.Key.Public().(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
		return nil
	}
	return fmt.Errorf("chiave %T non supportata (key %T not supported)", s.Key.Public(), s.Key.Public())
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Signer) essCertificate() *x509.Certificate {
	if s.essCert != nil {
		return s.essCert
	}
	return s.Cert
}

// ---- CAdES ----

var (
	oidRSAEncryption   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
)

// der encodes one DER element.
func der(tag byte, content ...[]byte) []byte {
	n := 0
	for _, c := range content {
		n += len(c)
	}
	out := []byte{tag}
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	default:
		var l []byte
		for v := n; v > 0; v >>= 8 {
			l = append([]byte{byte(v)}, l...)
		}
		out = append(out, 0x80|byte(len(l)))
		out = append(out, l...)
	}
	for _, c := range content {
		out = append(out, c...)
	}
	return out
}

func mustMarshal(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(err) // only fixed, well-typed values are marshalled here
	}
	return b
}

const (
	tagSequence = 0x30
	tagSet      = 0x31
	tagCtx0     = 0xa0
	tagCtx4     = 0xa4
)

// SignCAdES wraps content in a CAdES-BES envelope (.p7m, DER): SignedData with the
// content attached, SHA-256, signed attributes contentType, signingTime, messageDigest
// and signingCertificateV2, the certificate and its intermediates.
func (s *Signer) SignCAdES(content []byte) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("signature: CAdES: %w", err)
	}
	if len(content) == 0 {
		return nil, errors.New("signature: CAdES: documento vuoto (empty document)")
	}
	digest := sha256.Sum256(content)
	ess := sha256.Sum256(s.essCertificate().Raw)
	essCert := s.essCertificate()
	issuerSerial := der(tagSequence,
		der(tagSequence, der(tagCtx4, essCert.RawIssuer)),
		mustMarshal(essCert.SerialNumber))
	signingCertV2 := der(tagSequence, der(tagSequence, der(tagSequence, // SigningCertificateV2{certs{ESSCertIDv2}}
		mustMarshal(ess[:]), issuerSerial)))
	attrs := [][]byte{
		der(tagSequence, mustMarshal(oidAttrContentType), der(tagSet, mustMarshal(oidData))),
		der(tagSequence, mustMarshal(oidAttrSigningTime), der(tagSet, mustMarshal(s.now().UTC().Truncate(time.Second)))),
		der(tagSequence, mustMarshal(pkcs9MessageDigest), der(tagSet, mustMarshal(digest[:]))),
		der(tagSequence, mustMarshal(oidAttrSigningCertV2), der(tagSet, signingCertV2)),
	}
	slices.SortFunc(attrs, bytes.Compare) // DER orders a SET OF by encoding
	signedAttrs := der(tagSet, attrs...)
	h := sha256.Sum256(signedAttrs)
	sig, err := s.Key.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("signature: CAdES: firma non riuscita (signing failed): %w", err)
	}
	var sigAlg []byte
	switch s.Key.Public().(type) {
	case *rsa.PublicKey:
		sigAlg = der(tagSequence, mustMarshal(oidRSAEncryption), []byte{0x05, 0x00})
	default:
		sigAlg = der(tagSequence, mustMarshal(oidECDSAWithSHA256))
	}
	sha256Alg := der(tagSequence, mustMarshal(oidDigestSHA256))
	signerInfo := der(tagSequence,
		mustMarshal(1),
		der(tagSequence, s.Cert.RawIssuer, mustMarshal(s.Cert.SerialNumber)),
		sha256Alg,
		der(tagCtx0, attrs...), // [0] IMPLICIT SET OF Attribute
		sigAlg,
		mustMarshal(sig))
	certs := [][]byte{s.Cert.Raw}
	for _, c := range s.Chain {
		certs = append(certs, c.Raw)
	}
	slices.SortFunc(certs, bytes.Compare) // a SET OF, ordered as DER requires
	signedData := der(tagSequence,
		mustMarshal(1),
		der(tagSet, sha256Alg),
		der(tagSequence, mustMarshal(oidData), der(tagCtx0, mustMarshal(content))),
		der(tagCtx0, certs...), // [0] IMPLICIT SET OF Certificate
		der(tagSet, signerInfo))
	return der(tagSequence, mustMarshal(oidSignedData), der(tagCtx0, signedData)), nil
}

var pkcs9MessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}

// ---- XAdES ----

// SignXAdES adds a XAdES-BES enveloped signature to an XML document: a ds:Signature as
// the last child of the root, with two References (the document, through the
// enveloped-signature transform and exclusive canonicalization; the SignedProperties
// holding SigningTime and SigningCertificate), exclusive canonicalization, SHA-256, the
// certificate and its intermediates in ds:KeyInfo. The document's bytes are kept as
// they are: the signature is inserted before the root's end tag. A document that
// already carries a ds:Signature is refused.
func (s *Signer) SignXAdES(doc []byte) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("signature: XAdES: %w", err)
	}
	if err := xmlsafe.Check("documento da firmare", doc, DefaultMaxSize); err != nil {
		return nil, fmt.Errorf("signature: XAdES: %w", err)
	}
	tree, err := c14n.Parse(doc)
	if err != nil {
		return nil, fmt.Errorf("signature: XAdES: XML non ben formato (XML not well-formed): %w", err)
	}
	if hasSignatureTag(doc) {
		x := &xmlDoc{signatures: map[*etree.Element]bool{}, ids: map[string]*etree.Element{}, dupIDs: map[string]bool{}}
		x.index(tree.Root(), false)
		if len(x.top) > 0 {
			return nil, errors.New("signature: XAdES: il documento è già firmato (the document is already signed)")
		}
	}
	at, err := rootEndOffset(doc)
	if err != nil {
		return nil, fmt.Errorf("signature: XAdES: %w", err)
	}

	var sm string
	switch s.Key.Public().(type) {
	case *rsa.PublicKey:
		sm = nsDSigMore + "rsa-sha256"
	default:
		sm = nsDSigMore + "ecdsa-sha256"
	}
	suffix := make([]byte, 8)
	if _, err := rand.Read(suffix); err != nil {
		return nil, err
	}
	id := func(kind string) string { return kind + "-" + hex.EncodeToString(suffix) }
	signingTime := s.now().UTC().Truncate(time.Second)
	essCert := s.essCertificate()
	certDigest := sha256.Sum256(essCert.Raw)
	b64 := base64.StdEncoding.EncodeToString

	root := tree.Root()
	sig := root.CreateElement("ds:Signature")
	sig.CreateAttr("xmlns:ds", nsDSig)
	sig.CreateAttr("Id", id("Signature"))
	si := sig.CreateElement("ds:SignedInfo")
	si.CreateElement("ds:CanonicalizationMethod").CreateAttr("Algorithm", c14n.URIExclusive)
	si.CreateElement("ds:SignatureMethod").CreateAttr("Algorithm", sm)
	docRef := si.CreateElement("ds:Reference")
	docRef.CreateAttr("Id", id("Reference-document"))
	docRef.CreateAttr("URI", "")
	tr := docRef.CreateElement("ds:Transforms")
	tr.CreateElement("ds:Transform").CreateAttr("Algorithm", algEnveloped)
	tr.CreateElement("ds:Transform").CreateAttr("Algorithm", c14n.URIExclusive)
	docRef.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", nsXMLEnc+"sha256")
	docDigest := docRef.CreateElement("ds:DigestValue")
	spRef := si.CreateElement("ds:Reference")
	spRef.CreateAttr("Type", typeSignedProperties)
	spRef.CreateAttr("URI", "#"+id("SignedProperties"))
	spRef.CreateElement("ds:Transforms").CreateElement("ds:Transform").CreateAttr("Algorithm", c14n.URIExclusive)
	spRef.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", nsXMLEnc+"sha256")
	spDigest := spRef.CreateElement("ds:DigestValue")
	sigValue := sig.CreateElement("ds:SignatureValue")
	sigValue.CreateAttr("Id", id("SignatureValue"))
	x509Data := sig.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data")
	x509Data.CreateElement("ds:X509Certificate").SetText(b64(s.Cert.Raw))
	for _, c := range s.Chain {
		x509Data.CreateElement("ds:X509Certificate").SetText(b64(c.Raw))
	}
	qp := sig.CreateElement("ds:Object").CreateElement("xades:QualifyingProperties")
	qp.CreateAttr("xmlns:xades", nsXAdES132)
	qp.CreateAttr("Target", "#"+id("Signature"))
	sp := qp.CreateElement("xades:SignedProperties")
	sp.CreateAttr("Id", id("SignedProperties"))
	ssp := sp.CreateElement("xades:SignedSignatureProperties")
	ssp.CreateElement("xades:SigningTime").SetText(signingTime.Format(time.RFC3339))
	cert := ssp.CreateElement("xades:SigningCertificate").CreateElement("xades:Cert")
	cd := cert.CreateElement("xades:CertDigest")
	cd.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", nsXMLEnc+"sha256")
	cd.CreateElement("ds:DigestValue").SetText(b64(certDigest[:]))
	is := cert.CreateElement("xades:IssuerSerial")
	is.CreateElement("ds:X509IssuerName").SetText(essCert.Issuer.String())
	is.CreateElement("ds:X509SerialNumber").SetText(essCert.SerialNumber.String())

	exc := c14n.Options{Method: c14n.Exclusive}
	h := sha256.New()
	o := exc
	o.Exclude = func(e *etree.Element) bool { return e == sig }
	if err := c14n.WriteDocument(h, tree, o); err != nil {
		return nil, fmt.Errorf("signature: XAdES: %w", err)
	}
	docDigest.SetText(b64(h.Sum(nil)))
	h.Reset()
	if err := c14n.WriteElement(h, sp, exc); err != nil {
		return nil, fmt.Errorf("signature: XAdES: %w", err)
	}
	spDigest.SetText(b64(h.Sum(nil)))
	h.Reset()
	if err := c14n.WriteElement(h, si, exc); err != nil {
		return nil, fmt.Errorf("signature: XAdES: %w", err)
	}
	value, err := s.Key.Sign(rand.Reader, h.Sum(nil), crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("signature: XAdES: firma non riuscita (signing failed): %w", err)
	}
	if pub, ok := s.Key.Public().(*ecdsa.PublicKey); ok {
		if value, err = ecdsaRaw(value, (pub.Curve.Params().BitSize+7)/8); err != nil {
			return nil, fmt.Errorf("signature: XAdES: %w", err)
		}
	}
	sigValue.SetText(b64(value))

	var buf bytes.Buffer
	sig.WriteTo(&buf, &etree.WriteSettings{})
	out := make([]byte, 0, len(doc)+buf.Len())
	out = append(out, doc[:at]...)
	out = append(out, buf.Bytes()...)
	out = append(out, doc[at:]...)

	// What goes out must verify: a serialization that a verifier would read differently
	// from the tree we signed is caught here, not at the SdI.
	check := &Verifier{IntegrityOnly: true, Now: func() time.Time { return signingTime }}
	if _, err := check.Verify("documento firmato", out); err != nil && s.essCert == nil {
		return nil, fmt.Errorf("signature: XAdES: la firma prodotta non si verifica (the signature made does not verify): %w", err)
	}
	return out, nil
}

// rootEndOffset returns the offset of the root element's end tag in doc.
func rootEndOffset(doc []byte) (int, error) {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	depth := 0
	for {
		off := d.InputOffset()
		t, err := d.RawToken()
		if err != nil {
			return 0, fmt.Errorf("fine dell'elemento radice non trovata (root end tag not found): %w", err)
		}
		switch t.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
			if depth == 0 {
				if d.InputOffset() == off { // <root/>: the end tag is implied
					return 0, errors.New("elemento radice vuoto: nulla da firmare (empty root element: nothing to sign)")
				}
				return int(off), nil
			}
		}
	}
}

// ecdsaRaw turns an ASN.1 ECDSA signature into the r||s form XML Signature uses.
func ecdsaRaw(sig []byte, size int) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(sig, &rs); err != nil {
		return nil, fmt.Errorf("ECDSA signature: %w", err)
	}
	out := make([]byte, 2*size)
	rs.R.FillBytes(out[:size])
	rs.S.FillBytes(out[size:])
	return out, nil
}
