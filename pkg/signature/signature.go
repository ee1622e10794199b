// Package signature reads, verifies and makes the signatures of FatturaPA files and SdI
// messages: CAdES-BES envelopes (.p7m: DER, BER with indefinite lengths, or base64 text
// of the DER, PEM-armoured or not) and XAdES-BES enveloped XML signatures.
//
// Verification checks what the SdI checks on receipt, offline: the content digest and
// the signature value of every signer; the signed reference to the signer's certificate
// (CAdES ESS signingCertificate/V2, XAdES SigningCertificate/V2 or a signed KeyInfo);
// every XAdES Reference, SignedProperties included, with the transforms real SdI files
// use (enveloped-signature, XPath Filter 2.0 subtract, C14N 1.0/1.1/exclusive); the
// certificate chain to a configured TrustStore at the signing time, with revocation by
// the CRLs in the trust store folder. Failures are *Error values whose Class carries the
// SdI code (00100–00107). Nothing is fetched from the network.
//
// Signing (Signer) makes CAdES-BES .p7m and XAdES-BES enveloped signatures that openssl
// cms and xmlsec1 verify.
package signature

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"time"
)

// Format is the kind of envelope a file is.
type Format int

const (
	FormatUnknown Format = iota // neither XML nor a CMS envelope
	FormatPlain                 // XML without an XML signature
	FormatCAdES                 // CMS SignedData (.p7m), binary or base64
	FormatXAdES                 // XML carrying a ds:Signature
)

func (f Format) String() string {
	switch f {
	case FormatPlain:
		return "XML"
	case FormatCAdES:
		return "CAdES"
	case FormatXAdES:
		return "XAdES"
	}
	return "unknown"
}

// DefaultMaxSize bounds the files Verify accepts when Verifier.MaxSize is 0. The SdI's
// own limit (5 MB on SDICoop) is the caller's check, with its own code (00003).
const DefaultMaxSize = 64 << 20

// maxNesting bounds p7m envelopes inside p7m envelopes.
const maxNesting = 3

// Detect tells the format of data from its first bytes, without parsing it all. XML
// counts as XAdES when it holds a Signature element tag; Verify decides for certain.
func Detect(data []byte) Format {
	b := bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return FormatUnknown
	}
	switch {
	case b[0] == 0x30:
		if looksLikeSignedData(b) {
			return FormatCAdES
		}
	case b[0] == '<':
		if hasSignatureTag(b) {
			return FormatXAdES
		}
		return FormatPlain
	case b[0] == 'M' || bytes.HasPrefix(b, []byte("-----BEGIN")):
		if looksLikeSignedData(decodeBase64Prefix(b)) {
			return FormatCAdES
		}
	}
	return FormatUnknown
}

// looksLikeSignedData reports whether b starts like a DER/BER ContentInfo of SignedData:
// SEQUENCE, then the OID 1.2.840.113549.1.7.2 within the first bytes.
func looksLikeSignedData(b []byte) bool {
	oid := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02}
	if len(b) < 2 || b[0] != 0x30 {
		return false
	}
	head := b[:min(len(b), 8+len(oid))]
	return bytes.Contains(head, oid)
}

// decodeBase64Prefix decodes the first few dozen base64 characters of b, skipping PEM
// armour and line breaks.
func decodeBase64Prefix(b []byte) []byte {
	var chars []byte
	for _, line := range bytes.Split(b[:min(len(b), 512)], []byte("\n")) {
		line = bytes.TrimSpace(line)
		if bytes.HasPrefix(line, []byte("-----")) || bytes.Contains(line, []byte(":")) {
			continue
		}
		chars = append(chars, line...)
		if len(chars) >= 32 {
			break
		}
	}
	chars = chars[:len(chars)/4*4]
	out, err := base64.StdEncoding.DecodeString(string(chars))
	if err != nil {
		return nil
	}
	return out
}

// hasSignatureTag reports whether b contains a start tag named Signature, with or
// without a prefix.
func hasSignatureTag(b []byte) bool {
	for i := 0; ; {
		k := bytes.Index(b[i:], []byte("Signature"))
		if k < 0 {
			return false
		}
		k += i
		end := k + len("Signature")
		if end < len(b) && (b[end] == '>' || b[end] == '/' || b[end] == ' ' || b[end] == '\t' || b[end] == '\r' || b[end] == '\n') {
			j := k - 1
			if j >= 0 && b[j] == ':' { // skip the prefix
				for j--; j >= 0 && isNameByte(b[j]); j-- {
				}
			}
			if j >= 0 && b[j] == '<' {
				return true
			}
		}
		i = end
	}
}

func isNameByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// Signature describes one verified signature.
type Signature struct {
	// Signer is the certificate whose key made the signature.
	Signer *x509.Certificate
	// Chain runs from Signer to the trust anchor; nil when Verifier.IntegrityOnly.
	Chain []*x509.Certificate
	// SigningTime is the time the signer declared (CAdES signingTime, XAdES
	// SigningTime); zero when absent. It is a claim, not a trusted timestamp.
	SigningTime time.Time
	// CheckedAt is the time the certificate chain was checked at: SigningTime, or the
	// Verifier's Now when the signature has none.
	CheckedAt time.Time
	// Algorithm names the signature algorithm, such as "RSA-SHA256".
	Algorithm string
	// CertificateBound is true when the signed attributes name the signer's certificate
	// (ESS signingCertificate/V2, XAdES SigningCertificate/V2 or a signed ds:KeyInfo)
	// and it matched. CAdES-BES and XAdES-BES require it; plain PKCS#7 and XMLDSig
	// signatures without it still verify, with this false.
	CertificateBound bool
}

// Result is what Verify found. The embedded Signature is the first signature (the
// outermost envelope's first signer); Cosignatures holds the others: parallel signers
// and the signers of nested .p7m envelopes.
type Result struct {
	Format Format
	// Content is the signed document: the XML inside the .p7m for CAdES, the input
	// itself for XML (XAdES or plain).
	Content []byte
	Signature
	Cosignatures []Signature
}

// Signatures returns every signature checked, the first one first; none for FormatPlain.
func (r *Result) Signatures() []Signature {
	if r.Signer == nil {
		return nil
	}
	return append([]Signature{r.Signature}, r.Cosignatures...)
}

func (r *Result) add(s Signature) {
	if r.Signer == nil {
		r.Signature = s
		return
	}
	r.Cosignatures = append(r.Cosignatures, s)
}

// Verifier checks signatures. The zero value checks integrity and refuses every
// certificate chain (no trust anchors); set Trust. A Verifier is safe for concurrent use
// once configured (its TrustStore included: load it, then share it).
type Verifier struct {
	// Trust holds the anchors certificate chains must reach.
	Trust *TrustStore
	// Now gives the time of verification (default time.Now): the chain is checked at it
	// when a signature has no signing time, and a signing time after it is inconsistent.
	Now func() time.Time
	// MaxSize bounds the input (default DefaultMaxSize).
	MaxSize int64
	// IntegrityOnly checks digests and signature values only, not certificate chains
	// (for diagnostics and for files whose CAs are not at hand).
	IntegrityOnly bool
	// RequireSigningTime refuses signatures without a signing time (ErrNoTimeReference,
	// 00103) instead of checking them at Now.
	RequireSigningTime bool
	// ClockSkew is how far in the future of Now a signing time may be (default 5 min).
	ClockSkew time.Duration
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) maxSize() int64 {
	if v.MaxSize > 0 {
		return v.MaxSize
	}
	return DefaultMaxSize
}

// Verify detects the format of data (named name in errors), unwraps and verifies every
// signature in it. A plain XML file gives a Result with FormatPlain and no error: whether
// a signature is required is the caller's rule. Errors are *Error.
func (v *Verifier) Verify(name string, data []byte) (*Result, error) {
	if len(data) == 0 {
		return nil, fail(name, ErrMalformed, nil, "file vuoto (empty file)")
	}
	if int64(len(data)) > v.maxSize() {
		return nil, fail(name, ErrMalformed, nil, "file di %d byte oltre il limite di %d (file of %d bytes exceeds the %d-byte limit)",
			len(data), v.maxSize(), len(data), v.maxSize())
	}
	switch Detect(data) {
	case FormatCAdES:
		return v.verifyCAdES(name, data)
	case FormatXAdES, FormatPlain:
		return v.verifyXML(name, data)
	}
	if bytes.HasPrefix(data, []byte("\xff\xfe")) || bytes.HasPrefix(data, []byte("\xfe\xff")) {
		return v.verifyXML(name, data) // xmlsafe explains UTF-16
	}
	return nil, fail(name, ErrMalformed, nil,
		"formato non riconosciuto: né XML né busta CAdES .p7m (DER o base64) "+
			"(unrecognised format: neither XML nor a CAdES .p7m envelope, DER or base64)")
}

// checkTime applies the signing-time rules and returns the time to check the chain at.
func (v *Verifier) checkTime(name string, signingTime time.Time) (time.Time, error) {
	now := v.now()
	if signingTime.IsZero() {
		if v.RequireSigningTime {
			return time.Time{}, fail(name, ErrNoTimeReference, nil,
				"la firma non dichiara l'ora della firma (signingTime/SigningTime) "+
					"(the signature declares no signing time)")
		}
		return now, nil
	}
	skew := v.ClockSkew
	if skew == 0 {
		skew = 5 * time.Minute
	}
	if signingTime.After(now.Add(skew)) {
		st, n := signingTime.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)
		return time.Time{}, fail(name, ErrTimeInconsistent, nil,
			"ora della firma %s successiva all'ora della verifica %s (signing time %s is later than the verification time %s)",
			st, n, st, n)
	}
	return signingTime, nil
}
