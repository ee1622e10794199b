package signature

import (
	"errors"
	"fmt"
)

// Class is a kind of signature problem. Every error Verify returns wraps exactly one
// Class, so callers test it with errors.Is(err, signature.ErrExpired) and read its SdI
// code with CodeOf.
type Class struct {
	name string
	code string
}

func (c *Class) Error() string { return c.name }

// Code is the SdI scarto code for this class, "" for the envelope classes
// (ErrMalformed, ErrUnsupported) whose mapping belongs to the caller.
func (c *Class) Code() string { return c.code }

// SdI codes of the file-level signature checks. The descriptions quoted here are the
// short transcriptions in the project's notes (sdi-error-codes.md, source "Q": third-party
// copies of the SdI specification's list of checks, not checked against the PDF).
const (
	CodeExpired         = "00100" // "Signing certificate expired"
	CodeRevoked         = "00101" // "Signing certificate revoked"
	CodeNotIntact       = "00102" // "File not intact: signature not valid (content changed after signing)"
	CodeNoTimeReference = "00103" // "Digital signature lacks a time reference"
	CodeUntrustedCA     = "00104" // "Certification Authority not trusted"
	CodeTimeReference   = "00105" // "Time reference of the signature not consistent"
	CodeCorrupt         = "00106" // "File or archive empty or corrupt" (mapped by the caller, see ErrMalformed)
	CodeInvalidCert     = "00107" // "Certificate not valid"
)

// Envelope classes: the file cannot be read as a signed document, or uses a feature this
// package cannot check. They carry no SdI code: the caller decides (package fatturapa
// maps ErrMalformed to 00106, "File or archive empty or corrupt").
var (
	// ErrMalformed: the envelope is unreadable: bad DER/BER, bad base64, XML that does
	// not parse, a signature missing a required part (SignedInfo, certificate, content).
	ErrMalformed = &Class{"malformed envelope", ""}
	// ErrUnsupported: well-formed, but signed with something this package does not
	// check (a SubjectKeyIdentifier signer, an unknown algorithm or transform, an
	// external reference).
	ErrUnsupported = &Class{"unsupported signature feature", ""}
)

// Verdict classes: the signature was read and is at fault.
var (
	// ErrContentAltered: the signed document does not match its digest (CAdES
	// messageDigest, the XAdES reference to the document).
	ErrContentAltered = &Class{"content altered after signing", CodeNotIntact}
	// ErrSignatureValue: the signature value does not verify with the signer's key (the
	// signed attributes or ds:SignedInfo were altered, or the key does not match).
	ErrSignatureValue = &Class{"signature value not valid", CodeNotIntact}
	// ErrSignedProperties: the XAdES SignedProperties are altered or not covered by the
	// signature.
	ErrSignedProperties = &Class{"signed properties altered or unsigned", CodeNotIntact}
	// ErrSigningCertificate: the signed reference to the signer's certificate (CAdES ESS
	// signingCertificate(V2) certHash, XAdES SigningCertificate(V2) digest, a signed
	// ds:KeyInfo) does not match the certificate that verifies the signature.
	ErrSigningCertificate = &Class{"signing certificate reference mismatch", CodeNotIntact}
	// ErrExpired: the signer's certificate had expired at the signing time.
	ErrExpired = &Class{"certificate expired", CodeExpired}
	// ErrRevoked: a certificate of the chain was revoked before the signing time,
	// according to a CRL in the trust store folder.
	ErrRevoked = &Class{"certificate revoked", CodeRevoked}
	// ErrNoTimeReference: the signature has no signing time and the Verifier requires one.
	ErrNoTimeReference = &Class{"no time reference", CodeNoTimeReference}
	// ErrUntrustedCA: the chain does not lead to a configured trust anchor.
	ErrUntrustedCA = &Class{"certification authority not trusted", CodeUntrustedCA}
	// ErrTimeInconsistent: the signing time is unreadable or later than the time of
	// verification.
	ErrTimeInconsistent = &Class{"time reference not consistent", CodeTimeReference}
	// ErrCertificateInvalid: the certificate cannot sign documents or the chain is
	// otherwise invalid (not yet valid, wrong key usage, an expired or SHA-1 CA,
	// an unhandled critical extension).
	ErrCertificateInvalid = &Class{"certificate not valid", CodeInvalidCert}
)

// Error is a problem with one input's signature.
type Error struct {
	Name   string // the input, as the caller named it
	Class  *Class // what kind of problem; its Code is the SdI code
	Reason string // for the operator: Italian first, English in parentheses
	Err    error  // the underlying cause, or nil
}

func (e *Error) Error() string {
	s := e.Name + ": "
	if code := e.Class.Code(); code != "" {
		s += "[" + code + "] "
	}
	s += e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap exposes both the class and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Class}
	}
	return []error{e.Class, e.Err}
}

// Code is the SdI code of the error's class, "" for envelope classes.
func (e *Error) Code() string { return e.Class.Code() }

// CodeOf returns the SdI code carried by err (an *Error anywhere in its chain), or "".
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return ""
}

func fail(name string, class *Class, cause error, format string, args ...any) *Error {
	return &Error{Name: name, Class: class, Reason: fmt.Sprintf(format, args...), Err: cause}
}
