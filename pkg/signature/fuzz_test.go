package signature

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
)

// checkOutcome holds what every Verify answer must satisfy, whatever the input.
func checkOutcome(t *testing.T, data []byte, res *Result, err error) {
	t.Helper()
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || e.Class == nil || e.Name == "" || e.Reason == "" {
			t.Fatalf("error is not a complete *Error: %#v", err)
		}
		if res != nil {
			t.Fatal("both a result and an error")
		}
		return
	}
	if res == nil || len(res.Content) == 0 {
		t.Fatal("no error and no content")
	}
	switch res.Format {
	case FormatPlain, FormatXAdES:
		if !bytes.Equal(res.Content, data) {
			t.Fatal("XML content is not the input")
		}
	case FormatCAdES:
		_, content, err := Unwrap("fuzz", data)
		if err != nil || !bytes.Equal(content, res.Content) {
			t.Fatalf("Unwrap disagrees with Verify: %v", err)
		}
	default:
		t.Fatalf("format %v without an error", res.Format)
	}
	if res.Format != FormatPlain && (res.Signer == nil || res.Algorithm == "") {
		t.Fatal("a signed format without a signer")
	}
}

// FuzzVerifyCAdES drives the .p7m path: BER walking, base64, the pkcs7 library, signed
// attributes.
func FuzzVerifyCAdES(f *testing.F) {
	p := thePKI(f)
	f.Add(readSample(f, "IT01234567890_11111.xml.p7m"))
	for _, s := range []*Signer{p.signer(p.rsa), p.signer(p.ec)} {
		der, err := s.SignCAdES([]byte(invoiceXML))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
		f.Add([]byte(base64.StdEncoding.EncodeToString(der)))
	}
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x80, 0x00, 0x00, 0x00, 0x00})
	v := &Verifier{IntegrityOnly: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := v.Verify("fuzz.p7m", data)
		checkOutcome(t, data, res, err)
	})
}

// FuzzVerifyXAdES drives the XML path: xmlsafe, parsing, references, transforms,
// canonicalization, signed properties.
func FuzzVerifyXAdES(f *testing.F) {
	p := thePKI(f)
	for _, name := range []string{"IT01234567890_11111_RC_001.xml", "IT01234567890_X1111.xml", "IT01234567890_11112_EC_001.xml"} {
		f.Add(readSample(f, name))
	}
	for _, s := range []*Signer{p.signer(p.rsa), p.signer(p.ec)} {
		signed, err := s.SignXAdES([]byte(invoiceXML))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(signed)
	}
	f.Add([]byte(`<a xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:Signature Id="x"><ds:SignedInfo/></ds:Signature></a>`))
	v := &Verifier{IntegrityOnly: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := v.Verify("fuzz.xml", data)
		checkOutcome(t, data, res, err)
	})
}
