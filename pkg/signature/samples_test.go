package signature

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"
)

// The signed samples of the spec pack, with the verdict xmlsec1 and openssl give. The
// four govway-built files fail there too, as digest mismatches of the document.
var sampleVerdicts = []struct {
	file   string
	format Format
	class  *Class // nil: verifies (integrity)
	time   string // signing time, RFC 3339
}{
	{"IT01234567890_11111.xml.p7m", FormatCAdES, nil, "2014-02-06T09:38:42Z"},
	{"IT01234567890_12001.xml.p7m", FormatCAdES, nil, "2026-04-01T08:09:51Z"},
	{"IT01234567890_X1111.xml", FormatXAdES, nil, "2014-06-05T14:21:40Z"},
	{"IT01234567890_11111_AT_001.xml", FormatXAdES, nil, "2014-06-05T14:22:10Z"},
	{"IT01234567890_11111_DT_001.xml", FormatXAdES, nil, "2014-06-05T14:27:51Z"},
	{"IT01234567890_11111_MC_001.xml", FormatXAdES, nil, "2014-06-05T14:23:03Z"},
	{"IT01234567890_11111_NE_001.xml", FormatXAdES, nil, "2014-06-05T14:23:25Z"},
	{"IT01234567890_11111_NS_001.xml", FormatXAdES, nil, "2014-06-05T14:24:06Z"},
	{"IT01234567890_11111_RC_001.xml", FormatXAdES, nil, "2014-06-05T14:24:28Z"},
	{"IT01234567890_11111_SE_001.xml", FormatXAdES, nil, "2014-06-05T14:24:50Z"},
	{"IT01234567890_11112_EC_001.xml", FormatXAdES, ErrContentAltered, ""},
	{"ITHVQWPH73P42H501Y_00022_MC_001.xml", FormatXAdES, ErrContentAltered, ""},
	{"ITHVQWPH73P42H501Y_00022_NS_001.xml", FormatXAdES, ErrContentAltered, ""},
	{"ITHVQWPH73P42H501Y_00022_RC_001.xml", FormatXAdES, ErrContentAltered, ""},
	{"IT01234567890_11111.xml", FormatPlain, nil, ""},
}

// TestSamplesAgainstReferenceTools verifies every signed sample and checks the verdict
// against xmlsec1 (XAdES) and openssl cms (CAdES), run for real on the same file; for
// CAdES the unwrapped content must equal openssl's byte for byte.
func TestSamplesAgainstReferenceTools(t *testing.T) {
	xmlsec := needTool(t, "xmlsec1", "xmlsec1")
	openssl := needTool(t, "openssl", "openssl")
	v := &Verifier{IntegrityOnly: true}
	for _, s := range sampleVerdicts {
		t.Run(s.file, func(t *testing.T) {
			data := readSample(t, s.file)
			path := filepath.Join(samplesDir, s.file)
			if got := Detect(data); got != s.format {
				t.Fatalf("Detect = %v, want %v", got, s.format)
			}
			res, err := v.Verify(s.file, data)
			wantClass(t, err, s.class)
			switch s.format {
			case FormatXAdES:
				_, toolErr := run(t, xmlsec, "--verify", "--insecure",
					"--id-attr:Id", "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
					"--id-attr:Id", "http://www.w3.org/2000/09/xmldsig#:KeyInfo", path)
				if (toolErr == nil) != (err == nil) {
					t.Fatalf("verdict differs from xmlsec1: ours %v, xmlsec1 %v", err, toolErr)
				}
			case FormatCAdES:
				content, toolErr := run(t, openssl, "cms", "-verify", "-noverify", "-binary", "-inform", "DER", "-in", path)
				if (toolErr == nil) != (err == nil) {
					t.Fatalf("verdict differs from openssl: ours %v, openssl %v", err, toolErr)
				}
				if err == nil && !bytes.Equal(res.Content, content) {
					t.Fatalf("content (%d bytes) differs from openssl's (%d bytes)", len(res.Content), len(content))
				}
			}
			if err != nil {
				return
			}
			if res.Format != s.format {
				t.Fatalf("Result.Format = %v, want %v", res.Format, s.format)
			}
			if s.format == FormatPlain {
				if res.Signer != nil || len(res.Signatures()) != 0 || !bytes.Equal(res.Content, data) {
					t.Fatal("plain XML must come back unchanged and without signatures")
				}
				return
			}
			if got := res.SigningTime.UTC().Format(time.RFC3339); got != s.time {
				t.Errorf("SigningTime = %s, want %s", got, s.time)
			}
			if res.Signer == nil || res.Algorithm != "RSA-SHA256" {
				t.Errorf("signer %v, algorithm %q", res.Signer, res.Algorithm)
			}
			if s.format == FormatXAdES && !bytes.Equal(res.Content, data) {
				t.Error("XAdES content must be the input itself")
			}
		})
	}
}

// TestSampleContent checks that Unwrap gives the content Verify gives (and openssl, see
// above), and that the official sample's signingCertificateV2 names its signer.
func TestSampleContent(t *testing.T) {
	p7m := readSample(t, "IT01234567890_11111.xml.p7m")
	f, content, err := Unwrap("IT01234567890_11111.xml.p7m", p7m)
	if err != nil || f != FormatCAdES {
		t.Fatalf("Unwrap: %v %v", f, err)
	}
	res, err := (&Verifier{IntegrityOnly: true}).Verify("IT01234567890_11111.xml.p7m", p7m)
	if err != nil || !res.CertificateBound {
		t.Fatalf("official CAdES sample: err %v, CertificateBound %v", err, res != nil && res.CertificateBound)
	}
	if !bytes.Equal(content, res.Content) || !bytes.HasPrefix(content, []byte("<?xml")) {
		t.Fatalf("Unwrap and Verify disagree on the content")
	}
}

// TestSamplesChainUntrusted: the samples' CAs are not configured, so a strict Verifier
// refuses every valid sample with 00104, whatever its age.
func TestSamplesChainUntrusted(t *testing.T) {
	v := &Verifier{Trust: thePKI(t).verifier().Trust}
	for _, s := range sampleVerdicts {
		if s.class != nil || s.format == FormatPlain {
			continue
		}
		_, err := v.Verify(s.file, readSample(t, s.file))
		wantClass(t, err, ErrUntrustedCA)
	}
	// No trust store at all: 00104 with a message saying so.
	_, err := (&Verifier{}).Verify("x", readSample(t, "IT01234567890_11111_RC_001.xml"))
	wantClass(t, err, ErrUntrustedCA)
}

// TestSample12001Trusted trusts the self-signed "CN=Test SDI" certificate of the 1.95 MB
// sample: the whole check passes at its signing time, and fails once the anchor is gone.
func TestSample12001Trusted(t *testing.T) {
	data := readSample(t, "IT01234567890_12001.xml.p7m")
	f, content, err := Unwrap("12001", data)
	if err != nil || f != FormatCAdES || len(content) != 1950473 {
		t.Fatalf("Unwrap: %v %v %d", f, err, len(content))
	}
	res, err := (&Verifier{IntegrityOnly: true}).Verify("12001", data)
	if err != nil {
		t.Fatal(err)
	}
	anchor := res.Signer
	v := &Verifier{Trust: NewTrustStore(anchor), Now: func() time.Time { return time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC) }}
	res, err = v.Verify("12001", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Chain) != 1 || !res.Chain[0].Equal(anchor) {
		t.Fatalf("chain %v", res.Chain)
	}
	if res.CertificateBound {
		t.Error("12001 has no signingCertificateV2: CertificateBound must be false")
	}
	v.Trust = thePKI(t).verifier().Trust
	_, err = v.Verify("12001", data)
	wantClass(t, err, ErrUntrustedCA)
}

// TestVerifyConcurrent shares one Verifier between goroutines verifying different
// files (run with -race).
func TestVerifyConcurrent(t *testing.T) {
	p := thePKI(t)
	v := p.verifier()
	p7m, err := p.signer(p.rsa).SignCAdES([]byte(invoiceXML))
	if err != nil {
		t.Fatal(err)
	}
	xades, err := p.signer(p.ec).SignXAdES([]byte(invoiceXML))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for i := range 8 {
		go func() {
			var err error
			for range 20 {
				if i%2 == 0 {
					_, err = v.Verify("a.p7m", p7m)
				} else {
					_, err = v.Verify("a.xml", xades)
				}
				if err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
