package signature

import (
	"bytes"
	"crypto"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/smallstep/pkcs7"
)

var (
	oidAttrContentType     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrSigningTime     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidAttrSigningCert     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	oidAttrSigningCertV2   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidDigestSHA1          = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidDigestSHA224        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}
	oidDigestSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidDigestSHA384        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidDigestSHA512        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	errNotBase64           = errors.New("testo base64 non valido (invalid base64 text)")
	errBase64NotSignedData = errors.New("il testo base64 non contiene una busta CMS (the base64 text does not hold a CMS envelope)")
)

func hashForOID(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	switch {
	case oid.Equal(oidDigestSHA1):
		return crypto.SHA1, true
	case oid.Equal(oidDigestSHA224):
		return crypto.SHA224, true
	case oid.Equal(oidDigestSHA256):
		return crypto.SHA256, true
	case oid.Equal(oidDigestSHA384):
		return crypto.SHA384, true
	case oid.Equal(oidDigestSHA512):
		return crypto.SHA512, true
	}
	return 0, false
}

// decodeBase64 turns the base64 text of a DER envelope (line-wrapped or not, with or
// without PEM armour) into its bytes.
func decodeBase64(data []byte) ([]byte, error) {
	clean := make([]byte, 0, len(data))
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		t := bytes.TrimSpace(line)
		if bytes.HasPrefix(t, []byte("-----")) {
			continue // PEM armour
		}
		for _, c := range t {
			switch {
			case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '=':
				clean = append(clean, c)
			case c == ' ', c == '\t', c == '\r':
			default:
				return nil, errNotBase64
			}
		}
	}
	enc := base64.StdEncoding
	if len(clean)%4 != 0 {
		clean = bytes.TrimRight(clean, "=")
		enc = base64.RawStdEncoding
	}
	out := make([]byte, enc.DecodedLen(len(clean)))
	n, err := enc.Decode(out, clean)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotBase64, err)
	}
	if !looksLikeSignedData(out[:n]) {
		return nil, errBase64NotSignedData
	}
	return out[:n], nil
}

// envelope is one parsed .p7m.
type envelope struct {
	p7    *pkcs7.PKCS7
	shape signedDataShape
}

// openEnvelope reads a .p7m (binary or base64) without verifying it.
func openEnvelope(name string, data []byte) (*envelope, error) {
	b := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(b) > 0 && b[0] != 0x30 {
		der, err := decodeBase64(b)
		if err != nil {
			return nil, fail(name, ErrMalformed, err, "busta .p7m in base64 non leggibile (base64 .p7m envelope unreadable)")
		}
		b = der
	}
	shape, n, err := inspectSignedData(b)
	if err != nil {
		return nil, fail(name, ErrMalformed, err, "busta .p7m non leggibile: struttura ASN.1 errata (.p7m envelope unreadable: bad ASN.1 structure)")
	}
	if n < len(b) {
		if !isBlank(b[n:]) {
			return nil, fail(name, ErrMalformed, nil, "busta .p7m seguita da %d byte estranei (.p7m envelope followed by %d stray bytes)", len(b)-n, len(b)-n)
		}
		b = b[:n]
	}
	if !shape.contentType.Equal(oidData) {
		return nil, fail(name, ErrUnsupported, nil, "la busta .p7m contiene %s invece di un documento (id-data) (the .p7m holds %s instead of a document, id-data)",
			shape.contentType, shape.contentType)
	}
	if !shape.hasContent {
		return nil, fail(name, ErrMalformed, nil, "la busta .p7m non contiene il documento: firma separata (detached) "+
			"(the .p7m does not hold the document: detached signature)")
	}
	if shape.signers == 0 {
		return nil, fail(name, ErrMalformed, nil, "la busta .p7m non ha firmatari (the .p7m has no signers)")
	}
	if shape.signers > maxCertificates {
		return nil, fail(name, ErrUnsupported, nil, "%d firmatari, al massimo %d (%d signers, at most %d)", shape.signers, maxCertificates, shape.signers, maxCertificates)
	}
	if shape.keyID > 0 {
		return nil, fail(name, ErrUnsupported, nil, "firmatario identificato per SubjectKeyIdentifier (openssl cms -keyid): non verificabile, "+
			"rifirmare identificando il certificato per emittente e numero di serie "+
			"(signer identified by SubjectKeyIdentifier, as openssl cms -keyid makes: not supported, sign again identifying the certificate by issuer and serial number)")
	}
	var p7 *pkcs7.PKCS7
	err = contained(func() (err error) { p7, err = pkcs7.Parse(b); return err })
	if err != nil {
		return nil, fail(name, ErrMalformed, err, "busta .p7m non leggibile (.p7m envelope unreadable)")
	}
	if len(p7.Signers) != shape.signers {
		return nil, fail(name, ErrMalformed, nil, "firmatari della busta .p7m non leggibili (.p7m signer information unreadable)")
	}
	if len(p7.Content) == 0 {
		return nil, fail(name, ErrMalformed, nil, "la busta .p7m contiene un documento vuoto (the .p7m holds an empty document)")
	}
	return &envelope{p7: p7, shape: shape}, nil
}

// Unwrap returns the document inside data without verifying any signature: the XML of a
// .p7m (through nested envelopes), or data itself for XML. Use it to read a file whose
// signature was verified elsewhere or does not matter (e.g. showing it to an operator).
func Unwrap(name string, data []byte) (Format, []byte, error) {
	f := Detect(data)
	switch f {
	case FormatPlain, FormatXAdES:
		return f, data, nil
	case FormatUnknown:
		return f, nil, fail(name, ErrMalformed, nil, "formato non riconosciuto: né XML né busta CAdES .p7m "+
			"(unrecognised format: neither XML nor a CAdES .p7m envelope)")
	}
	content := data
	for level := 0; Detect(content) == FormatCAdES; level++ {
		if level == maxNesting {
			return f, nil, fail(name, ErrUnsupported, nil, "più di %d buste .p7m annidate (more than %d nested .p7m envelopes)", maxNesting, maxNesting)
		}
		env, err := openEnvelope(name, content)
		if err != nil {
			return f, nil, err
		}
		content = env.p7.Content
	}
	return f, content, nil
}

func (v *Verifier) verifyCAdES(name string, data []byte) (*Result, error) {
	res := &Result{Format: FormatCAdES}
	content := data
	for level := 0; level == 0 || Detect(content) == FormatCAdES; level++ {
		if level == maxNesting {
			return nil, fail(name, ErrUnsupported, nil, "più di %d buste .p7m annidate (more than %d nested .p7m envelopes)", maxNesting, maxNesting)
		}
		env, err := openEnvelope(name, content)
		if err != nil {
			return nil, err
		}
		sigs, err := v.verifyEnvelope(name, env)
		if err != nil {
			return nil, err
		}
		for _, s := range sigs {
			res.add(s)
		}
		content = env.p7.Content
	}
	res.Content = content
	return res, nil
}

func (v *Verifier) verifyEnvelope(name string, env *envelope) ([]Signature, error) {
	p7 := env.p7
	signers := make([]*x509.Certificate, len(p7.Signers))
	for i, si := range p7.Signers {
		ias := si.IssuerAndSerialNumber
		for _, c := range p7.Certificates {
			if ias.SerialNumber != nil && c.SerialNumber.Cmp(ias.SerialNumber) == 0 && bytes.Equal(c.RawIssuer, ias.IssuerName.FullBytes) {
				signers[i] = c
				break
			}
		}
		if signers[i] == nil {
			return nil, fail(name, ErrMalformed, nil, "la busta .p7m non contiene il certificato del firmatario n. %d "+
				"(the .p7m does not carry the certificate of signer #%d)", i+1, i+1)
		}
		if h, ok := hashForOID(si.DigestAlgorithm.Algorithm); !ok || h == crypto.SHA224 {
			return nil, fail(name, ErrUnsupported, nil, "algoritmo di hash %s non supportato (digest algorithm %s not supported)",
				si.DigestAlgorithm.Algorithm, si.DigestAlgorithm.Algorithm)
		}
		if !supportedSignatureAlgorithm(si.DigestEncryptionAlgorithm.Algorithm) {
			alg := si.DigestEncryptionAlgorithm.Algorithm
			return nil, fail(name, ErrUnsupported, nil, "algoritmo di firma %s non supportato (signature algorithm %s not supported)", alg, alg)
		}
	}

	// Digest, signing time against the certificate's validity, signature value: the
	// pkcs7 library checks them for every signer (without a trust store: chains are ours).
	err := contained(func() error { return p7.VerifyWithChainAtTime(nil, time.Time{}) })
	var crash *libraryPanic
	if errors.As(err, &crash) {
		return nil, fail(name, ErrMalformed, err, "busta .p7m non verificabile (.p7m envelope cannot be verified)")
	}
	if err != nil {
		var mismatch *pkcs7.MessageDigestMismatchError
		var timing *pkcs7.SigningTimeNotValidError
		switch {
		case errors.As(err, &mismatch):
			return nil, fail(name, ErrContentAltered, nil, "documento modificato dopo la firma: l'impronta non corrisponde "+
				"(document changed after signing: digest mismatch)")
		case errors.As(err, &timing) && timing.SigningTime.After(timing.NotAfter):
			st, na := timing.SigningTime.UTC().Format(time.RFC3339), timing.NotAfter.UTC().Format(time.RFC3339)
			return nil, fail(name, ErrExpired, nil, "certificato di firma scaduto il %s, prima della firma (%s) "+
				"(signing certificate expired on %s, before the signing time %s)", na, st, na, st)
		case errors.As(err, &timing):
			st, nb := timing.SigningTime.UTC().Format(time.RFC3339), timing.NotBefore.UTC().Format(time.RFC3339)
			return nil, fail(name, ErrCertificateInvalid, nil, "certificato di firma non ancora valido alla firma (%s; valido dal %s) "+
				"(signing certificate not yet valid at the signing time %s; valid from %s)", st, nb, st, nb)
		case errors.Is(err, pkcs7.ErrUnsupportedAlgorithm):
			return nil, fail(name, ErrUnsupported, err, "algoritmo di firma non supportato (signature algorithm not supported)")
		default:
			return nil, fail(name, ErrSignatureValue, err, "firma non valida: gli attributi firmati o la chiave non corrispondono "+
				"(signature not valid: the signed attributes or the key do not match)")
		}
	}

	out := make([]Signature, len(p7.Signers))
	for i, si := range p7.Signers {
		cert := signers[i]
		s := Signature{Signer: cert}
		h, _ := hashForOID(si.DigestAlgorithm.Algorithm)
		s.Algorithm = keyName(cert) + "-" + hashName(h)
		for _, a := range si.AuthenticatedAttributes {
			switch {
			case a.Type.Equal(oidAttrContentType):
				var ct asn1.ObjectIdentifier
				if _, err := asn1.Unmarshal(a.Value.Bytes, &ct); err != nil || !ct.Equal(env.shape.contentType) {
					return nil, fail(name, ErrSignatureValue, err, "attributo firmato contentType incoerente con il contenuto "+
						"(signed contentType attribute does not match the content)")
				}
			case a.Type.Equal(oidAttrSigningTime):
				if _, err := asn1.Unmarshal(a.Value.Bytes, &s.SigningTime); err != nil {
					return nil, fail(name, ErrTimeInconsistent, err, "attributo signingTime non leggibile (signingTime attribute unreadable)")
				}
			case a.Type.Equal(oidAttrSigningCertV2), a.Type.Equal(oidAttrSigningCert):
				if err := checkESSCertID(a.Value.Bytes, a.Type.Equal(oidAttrSigningCertV2), cert); err != nil {
					return nil, fail(name, ErrSigningCertificate, err, "l'attributo firmato signingCertificate non corrisponde al certificato del firmatario %s "+
						"(the signed signingCertificate attribute does not match the signer's certificate %s)", subject(cert), subject(cert))
				}
				s.CertificateBound = true
			}
		}
		at, err := v.checkTime(name, s.SigningTime)
		if err != nil {
			return nil, err
		}
		s.CheckedAt = at
		if s.Chain, err = v.verifyChain(name, cert, p7.Certificates, at); err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// libraryPanic is a panic of the pkcs7 library turned into an error: hostile input must
// end in a refusal, never in a crash of the hub.
type libraryPanic struct{ value any }

func (p *libraryPanic) Error() string { return fmt.Sprintf("pkcs7 library panic: %v", p.value) }

func contained(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &libraryPanic{r}
		}
	}()
	return f()
}

// supportedSignatureAlgorithm mirrors what the pkcs7 library verifies: RSA PKCS#1 v1.5
// (rsaEncryption or sha*WithRSAEncryption) and ECDSA (ecdsa-with-SHA*, or the curve
// OIDs some signers put there). RSA-PSS and DSA are refused.
func supportedSignatureAlgorithm(oid asn1.ObjectIdentifier) bool {
	for _, ok := range []asn1.ObjectIdentifier{
		pkcs7.OIDEncryptionAlgorithmRSA, pkcs7.OIDEncryptionAlgorithmRSASHA1, pkcs7.OIDEncryptionAlgorithmRSASHA256,
		pkcs7.OIDEncryptionAlgorithmRSASHA384, pkcs7.OIDEncryptionAlgorithmRSASHA512,
		pkcs7.OIDDigestAlgorithmECDSASHA1, pkcs7.OIDDigestAlgorithmECDSASHA256, pkcs7.OIDDigestAlgorithmECDSASHA384,
		pkcs7.OIDDigestAlgorithmECDSASHA512, pkcs7.OIDEncryptionAlgorithmECDSAP256, pkcs7.OIDEncryptionAlgorithmECDSAP384,
		pkcs7.OIDEncryptionAlgorithmECDSAP521,
	} {
		if oid.Equal(ok) {
			return true
		}
	}
	return false
}

// checkESSCertID compares the first ESSCertID(v2) of a SigningCertificate(V2) attribute
// value with cert: RFC 5035 makes the first one the signer's.
//
//	SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies ... OPTIONAL }
//	ESSCertIDv2 ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier DEFAULT sha256,
//	                           certHash OCTET STRING, issuerSerial IssuerSerial OPTIONAL }
//	ESSCertID   ::= SEQUENCE { certHash OCTET STRING (SHA-1), issuerSerial IssuerSerial OPTIONAL }
func checkESSCertID(value []byte, v2 bool, cert *x509.Certificate) error {
	var sc, certs, first asn1.RawValue
	if _, err := asn1.Unmarshal(value, &sc); err != nil || sc.Tag != asn1.TagSequence {
		return errors.New("SigningCertificate is not a SEQUENCE")
	}
	if _, err := asn1.Unmarshal(sc.Bytes, &certs); err != nil || certs.Tag != asn1.TagSequence {
		return errors.New("SigningCertificate certs is not a SEQUENCE")
	}
	if _, err := asn1.Unmarshal(certs.Bytes, &first); err != nil || first.Tag != asn1.TagSequence {
		return errors.New("SigningCertificate holds no ESSCertID")
	}
	h := crypto.SHA1
	rest := first.Bytes
	if v2 {
		h = crypto.SHA256
		var alg struct {
			Algorithm  asn1.ObjectIdentifier
			Parameters asn1.RawValue `asn1:"optional"`
		}
		var peek asn1.RawValue
		if _, err := asn1.Unmarshal(rest, &peek); err == nil && peek.Tag == asn1.TagSequence {
			r, err := asn1.Unmarshal(rest, &alg)
			if err != nil {
				return fmt.Errorf("ESSCertIDv2 hashAlgorithm: %w", err)
			}
			var ok bool
			if h, ok = hashForOID(alg.Algorithm); !ok {
				return fmt.Errorf("ESSCertIDv2 hash algorithm %s not supported", alg.Algorithm)
			}
			rest = r
		}
	}
	var certHash []byte
	if _, err := asn1.Unmarshal(rest, &certHash); err != nil {
		return fmt.Errorf("ESSCertID certHash: %w", err)
	}
	d := h.New()
	d.Write(cert.Raw)
	if subtle.ConstantTimeCompare(d.Sum(nil), certHash) != 1 {
		return fmt.Errorf("%s certHash differs", hashName(h))
	}
	return nil
}

func hashName(h crypto.Hash) string {
	switch h {
	case crypto.SHA1:
		return "SHA1"
	case crypto.SHA224:
		return "SHA224"
	case crypto.SHA256:
		return "SHA256"
	case crypto.SHA384:
		return "SHA384"
	case crypto.SHA512:
		return "SHA512"
	}
	return h.String()
}

func keyName(c *x509.Certificate) string {
	switch c.PublicKeyAlgorithm {
	case x509.RSA:
		return "RSA"
	case x509.ECDSA:
		return "ECDSA"
	case x509.Ed25519:
		return "Ed25519"
	}
	return c.PublicKeyAlgorithm.String()
}
