package signature

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"snodo/pkg/testpki"
)

func TestLoadTrustStore(t *testing.T) {
	p := thePKI(t)
	dir := t.TempDir()
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	keyPEM, err := testpki.KeyPEM(p.rsa.Key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(7), ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: p.rsa.Cert.SerialNumber, RevocationTime: now.Add(-30 * time.Minute)}},
	}, p.inter.Cert, p.inter.Key)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"root.pem":         pemOf("CERTIFICATE", p.root.Cert.Raw),
		"bundle.crt":       append(append(pemOf("CERTIFICATE", p.other.Cert.Raw), keyPEM...), pemOf("CERTIFICATE", p.inter.Cert.Raw)...),
		"inter.der":        p.inter.Cert.Raw,
		"two.der":          append(append([]byte{}, p.root.Cert.Raw...), p.other.Cert.Raw...),
		"inter.crl":        crl,
		"inter-crl.pem":    pemOf("X509 CRL", crl),
		".hidden":          []byte("garbage that must be skipped"),
		"sub/ignored.pem":  []byte("garbage in a subfolder, not read"),
		"README-not-read/": nil,
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(path, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("root.pem", filepath.Join(dir, "abcd1234.0")); err != nil { // c_rehash style
		t.Fatal(err)
	}
	ts, err := LoadTrustStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ts.Certificates()); n != 7 {
		t.Errorf("%d certificates loaded, want 7", n)
	}
	if len(ts.crls) != 2 {
		t.Errorf("%d CRLs loaded, want 2", len(ts.crls))
	}

	// The folder's CRL revokes the RSA signer half an hour ago.
	s := p.signer(p.rsa)
	v := &Verifier{Trust: ts}
	p7m, err := s.SignCAdES([]byte(invoiceXML))
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify("revoked.p7m", p7m)
	wantClass(t, err, ErrRevoked)
	s.Now = func() time.Time { return now.Add(-45 * time.Minute) }
	if p7m, err = s.SignCAdES([]byte(invoiceXML)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify("before-revocation.p7m", p7m); err != nil {
		t.Fatalf("signed before the revocation: %v", err)
	}
	// A CRL signed by someone else is not believed.
	forged, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(8), ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(time.Hour), Issuer: p.inter.Cert.Subject,
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: p.ec.Cert.SerialNumber, RevocationTime: now.Add(-time.Hour)}},
	}, p.other.Cert, p.other.Key)
	if err != nil {
		t.Fatal(err)
	}
	forgedCRL, err := x509.ParseRevocationList(forged)
	if err != nil {
		t.Fatal(err)
	}
	ts.AddCRL(forgedCRL)
	ec, err := p.signer(p.ec).SignCAdES([]byte(invoiceXML))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify("forged-crl.p7m", ec); err != nil {
		t.Fatalf("a CRL not signed by the issuer was believed: %v", err)
	}
}

func TestLoadTrustStoreErrors(t *testing.T) {
	p := thePKI(t)
	good := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.root.Cert.Raw})
	cases := map[string]map[string][]byte{
		"garbage file":         {"root.pem": good, "notes.txt": []byte("hello")},
		"broken PEM":           {"root.pem": good, "bad.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03, 1, 2, 3}})},
		"only a key":           {"root.pem": good, "key.pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})},
		"empty folder":         {},
		"only a dangling link": {"root.pem": good},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for f, data := range files {
				if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			culprit := dir
			for f := range files {
				if f != "root.pem" {
					culprit = f
				}
			}
			if name == "only a dangling link" {
				culprit = "dangling.pem"
				if err := os.Symlink(filepath.Join(dir, "missing"), filepath.Join(dir, culprit)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := LoadTrustStore(dir)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), culprit) {
				t.Errorf("error does not name %s: %v", culprit, err)
			}
		})
	}
	if _, err := LoadTrustStore(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing folder accepted")
	}
}
