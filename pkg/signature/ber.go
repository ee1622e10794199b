package signature

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"fmt"
)

// A minimal BER reader: enough to check that a .p7m is structurally sound (definite and
// indefinite lengths, bounded nesting) before the pkcs7 library sees it, and to look at
// the parts of SignedData the library hides or skips silently (the kind of each
// SignerIdentifier, the encapsulated content type).

const maxBERDepth = 64

type berElem struct {
	class       byte // 0 universal, 1 application, 2 context-specific, 3 private
	tag         int
	constructed bool
	content     []byte // the content octets; for indefinite length, everything before the end-of-contents
	total       int    // bytes the element occupies, header and end-of-contents included
}

var errBER = errors.New("BER")

func berErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errBER}, args...)...)
}

// berRead reads the element at the start of data, checking every nested element.
func berRead(data []byte, depth int) (berElem, error) {
	if depth > maxBERDepth {
		return berElem{}, berErrorf("nesting deeper than %d", maxBERDepth)
	}
	if len(data) < 2 {
		return berElem{}, berErrorf("truncated element")
	}
	e := berElem{class: data[0] >> 6, constructed: data[0]&0x20 != 0, tag: int(data[0] & 0x1f)}
	i := 1
	if e.tag == 0x1f { // high tag number form
		e.tag = 0
		for n := 0; ; n++ {
			if i >= len(data) || n == 4 {
				return berElem{}, berErrorf("bad tag")
			}
			b := data[i]
			i++
			e.tag = e.tag<<7 | int(b&0x7f)
			if b&0x80 == 0 {
				break
			}
		}
	}
	if i >= len(data) {
		return berElem{}, berErrorf("truncated length")
	}
	l := int(data[i])
	i++
	switch {
	case l == 0x80: // indefinite
		if !e.constructed {
			return berElem{}, berErrorf("indefinite length on a primitive element")
		}
		start := i
		for {
			if i+2 <= len(data) && data[i] == 0 && data[i+1] == 0 {
				e.content = data[start:i]
				e.total = i + 2
				return e, nil
			}
			if i >= len(data) {
				return berElem{}, berErrorf("missing end-of-contents")
			}
			c, err := berRead(data[i:], depth+1)
			if err != nil {
				return berElem{}, err
			}
			i += c.total
		}
	case l > 0x80:
		n := l & 0x7f
		if n > 4 || i+n > len(data) {
			return berElem{}, berErrorf("bad length")
		}
		l = 0
		for _, b := range data[i : i+n] {
			l = l<<8 | int(b)
		}
		i += n
		if l < 0 || l > len(data) {
			return berElem{}, berErrorf("bad length")
		}
	}
	if l > len(data)-i {
		return berElem{}, berErrorf("length %d beyond the end of the data", l)
	}
	e.content = data[i : i+l]
	e.total = i + l
	if e.constructed {
		for rest := e.content; len(rest) > 0; {
			c, err := berRead(rest, depth+1)
			if err != nil {
				return berElem{}, err
			}
			rest = rest[c.total:]
		}
	}
	return e, nil
}

// children returns the elements inside a constructed element (already checked by berRead).
func (e berElem) children() []berElem {
	var out []berElem
	for rest := e.content; len(rest) > 0; {
		c, err := berRead(rest, 0)
		if err != nil {
			return out
		}
		out = append(out, c)
		rest = rest[c.total:]
	}
	return out
}

func (e berElem) is(class byte, tag int, constructed bool) bool {
	return e.class == class && e.tag == tag && e.constructed == constructed
}

func (e berElem) oid() (asn1.ObjectIdentifier, bool) {
	if !e.is(0, 6, false) {
		return nil, false
	}
	var oid asn1.ObjectIdentifier
	// Re-wrap as DER: an OBJECT IDENTIFIER is always short enough for one length byte
	// in practice; longer ones are refused.
	if len(e.content) > 127 {
		return nil, false
	}
	if _, err := asn1.Unmarshal(append([]byte{6, byte(len(e.content))}, e.content...), &oid); err != nil {
		return nil, false
	}
	return oid, true
}

// signedDataShape is what the pkcs7 library does not tell: how many signers there are,
// whether any is identified by SubjectKeyIdentifier, and what content is encapsulated.
type signedDataShape struct {
	contentType asn1.ObjectIdentifier // eContentType
	hasContent  bool
	signers     int
	keyID       int // signers identified by subjectKeyIdentifier
}

var (
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
)

// inspectSignedData checks the BER structure of a whole ContentInfo and describes its
// SignedData. It returns the length of the ContentInfo (data may carry trailing bytes).
func inspectSignedData(data []byte) (signedDataShape, int, error) {
	var s signedDataShape
	top, err := berRead(data, 0)
	if err != nil {
		return s, 0, err
	}
	ci := top.children()
	if !top.is(0, 16, true) || len(ci) < 2 {
		return s, 0, berErrorf("not a ContentInfo")
	}
	if oid, ok := ci[0].oid(); !ok || !oid.Equal(oidSignedData) {
		return s, 0, berErrorf("content type is not SignedData")
	}
	if !ci[1].is(2, 0, true) || len(ci[1].children()) != 1 {
		return s, 0, berErrorf("SignedData missing")
	}
	sd := ci[1].children()[0]
	parts := sd.children()
	if !sd.is(0, 16, true) || len(parts) < 4 {
		return s, 0, berErrorf("SignedData is not a SEQUENCE of at least 4 parts")
	}
	encap := parts[2].children()
	if !parts[2].is(0, 16, true) || len(encap) < 1 {
		return s, 0, berErrorf("encapsulated content info missing")
	}
	oid, ok := encap[0].oid()
	if !ok {
		return s, 0, berErrorf("encapsulated content type missing")
	}
	s.contentType = oid
	s.hasContent = len(encap) > 1 && encap[1].is(2, 0, true)
	infos := parts[len(parts)-1]
	if !infos.is(0, 17, true) {
		return s, 0, berErrorf("signerInfos is not a SET")
	}
	for _, si := range infos.children() {
		f := si.children()
		if !si.is(0, 16, true) || len(f) < 5 {
			return s, 0, berErrorf("SignerInfo %d malformed", s.signers+1)
		}
		s.signers++
		if f[1].class == 2 && f[1].tag == 0 {
			s.keyID++
		}
	}
	return s, top.total, nil
}

// isBlank reports whether trailing bytes after a ContentInfo are only padding.
func isBlank(b []byte) bool {
	return len(bytes.Trim(b, "\x00 \t\r\n")) == 0
}
