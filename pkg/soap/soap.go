// Package soap is a small SOAP toolkit for document/literal services: it reads and writes
// SOAP 1.1 envelopes (and accepts SOAP 1.2), faults, and MTOM/XOP packages
// (multipart/related with xop:Include references) in both directions.
//
// Payloads are plain encoding/xml structs; binary fields use [Binary], which travels as
// inline base64 or as an XOP attachment without the payload type knowing which. The root
// element of a payload is written with a prefix, so its children stay unqualified as
// schemas with elementFormDefault="unqualified" (the SdI ones) require.
//
// [Server] is an http.Handler dispatching on SOAPAction or on the body element (when the
// action is empty, quoted differently or unknown); [Client] calls an operation over an
// injected *http.Client. SOAP headers are read past and ignored: none of the services
// this serves defines one. One-way operations answer HTTP 202 with an empty body, as
// WS-I Basic Profile and Axis2 do. Everything is bounded: request and
// response sizes, MIME parts, and the server's requests in flight. Malformed input gives a
// SOAP fault or a typed error naming the problem, never a panic.
package soap

import (
	"errors"
	"fmt"
	"strings"
)

// Namespaces and content types of the SOAP and XOP specifications.
const (
	NS11  = "http://schemas.xmlsoap.org/soap/envelope/"
	NS12  = "http://www.w3.org/2003/05/soap-envelope"
	NSXOP = "http://www.w3.org/2004/08/xop/include"

	ContentType11  = "text/xml; charset=utf-8"
	ContentType12  = "application/soap+xml; charset=utf-8"
	contentTypeXOP = "application/xop+xml"
)

// Version is the SOAP version of an envelope.
type Version int

// SOAP versions.
const (
	V11 Version = iota // SOAP 1.1 (the SdI's)
	V12                // SOAP 1.2, accepted and answered in kind
)

func (v Version) String() string {
	if v == V12 {
		return "SOAP 1.2"
	}
	return "SOAP 1.1"
}

func (v Version) namespace() string {
	if v == V12 {
		return NS12
	}
	return NS11
}

func (v Version) contentType() string {
	if v == V12 {
		return ContentType12
	}
	return ContentType11
}

// Default limits.
const (
	// DefaultMaxBodyBytes bounds a request or response: an SdI file of 5 MB in base64
	// (6.7 MB) plus its metadata and the envelope fit with room to spare.
	DefaultMaxBodyBytes = 10 << 20
	// maxParts bounds the MIME parts of an MTOM package (root included).
	maxParts = 32
)

// ErrMalformed classifies input that is not a well-formed SOAP message (bad XML, no
// Envelope or Body, broken multipart). Errors of this class become soap:Client faults.
var ErrMalformed = errors.New("soap: malformed message")

// ErrTooLarge classifies a message beyond the configured size.
var ErrTooLarge = errors.New("soap: message too large")

// malformed builds an ErrMalformed error naming the input; msg is Italian then English.
func malformed(name, format string, args ...any) error {
	return &inputError{name: name, msg: fmt.Sprintf(format, args...), class: ErrMalformed}
}

type inputError struct {
	name, msg string
	class     error
	cause     error
}

func (e *inputError) Error() string {
	s := e.name + ": " + e.msg
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

func (e *inputError) Is(target error) bool { return target == e.class }
func (e *inputError) Unwrap() error        { return e.cause }

// unquote trims spaces and one pair of double quotes around a SOAPAction value.
func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	return s
}
