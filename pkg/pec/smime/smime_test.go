package smime

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"snodo/pkg/testpki"
)

type pki struct {
	ca, other *testpki.CA
	signer    Signer
	issued    *testpki.Issued
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	root := testpki.MustCA("CA gestori PEC di prova")
	inter, err := root.Intermediate("CA intermedia PEC", testpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := inter.Signing("Gestore PEC di prova", testpki.Options{Key: testpki.RSA})
	if err != nil {
		t.Fatal(err)
	}
	return &pki{ca: root, other: testpki.MustCA("Altra CA"), issued: iss,
		signer: Signer{Cert: iss.Cert, Key: iss.Key, Chain: iss.Chain}}
}

const content = "Content-Type: text/plain\r\n\r\nIl messaggio è stato accettato.\r\n"

func TestDetached(t *testing.T) {
	p := newPKI(t)
	sig, err := SignDetached([]byte(content), p.signer)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, tc := range []struct {
		name    string
		content string
		sig     []byte
		trust   *TrustStore
		now     time.Time
		want    Status
		reason  string
	}{
		{"valid against root", content, sig, NewTrustStore(p.ca.Cert), now, Valid, ""},
		{"valid against the provider certificate itself", content, sig, NewTrustStore(p.issued.Cert), now, Valid, ""},
		{"valid years later, at the signing time", content, sig, NewTrustStore(p.ca.Cert), now.AddDate(3, 0, 0), Valid, ""},
		{"one byte changed", strings.Replace(content, "accettato", "accettatO", 1), sig, NewTrustStore(p.ca.Cert), now, Invalid, "content altered"},
		{"CRLF normalised to LF", strings.ReplaceAll(content, "\r\n", "\n"), sig, NewTrustStore(p.ca.Cert), now, Invalid, "content altered"},
		{"unknown signer", content, sig, NewTrustStore(p.other.Cert), now, Untrusted, "not trusted"},
		{"no trust store", content, sig, nil, now, Unchecked, "no trust store"},
		{"garbage signature", content, []byte("MII...njA=="), NewTrustStore(p.ca.Cert), now, Invalid, "unreadable"},
		{"truncated signature", content, sig[:len(sig)/2], NewTrustStore(p.ca.Cert), now, Invalid, ""},
		{"empty signature", content, nil, NewTrustStore(p.ca.Cert), now, Missing, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := VerifyDetached([]byte(tc.content), tc.sig, tc.trust, tc.now)
			if v.Status != tc.want {
				t.Fatalf("status %s (%s), want %s", v.Status, v.Reason, tc.want)
			}
			if !strings.Contains(v.Reason, tc.reason) {
				t.Fatalf("reason %q lacks %q", v.Reason, tc.reason)
			}
			if v.Intact() && (!strings.Contains(v.Signer, "Gestore PEC di prova") || v.SigningTime.IsZero()) {
				t.Fatalf("signer %q signing time %v", v.Signer, v.SigningTime)
			}
		})
	}
}

// TestChainCacheKeepsValidityWindow: a chain verified once is not trusted outside its
// certificates' validity afterwards.
func TestChainCacheKeepsValidityWindow(t *testing.T) {
	p := newPKI(t)
	sig, _ := SignDetached([]byte(content), p.signer)
	trust := NewTrustStore(p.ca.Cert)
	if v := VerifyDetached([]byte(content), sig, trust, time.Now()); v.Status != Valid {
		t.Fatalf("first: %+v", v)
	}
	if v := VerifyDetached([]byte(content), sig, trust, time.Now()); v.Status != Valid {
		t.Fatalf("cached: %+v", v)
	}
	// A clock before the certificates existed: the signing time is in its future, so
	// the check happens at that clock, and the cached chain must not answer for it.
	if v := VerifyDetached([]byte(content), sig, trust, time.Now().AddDate(-5, 0, 0)); v.Status == Valid {
		t.Fatalf("cached chain trusted outside its validity: %+v", v)
	}
}

func TestExpiredAtSigning(t *testing.T) {
	ca := testpki.MustCA("CA")
	old, err := ca.Signing("Gestore scaduto", testpki.Options{NotBefore: time.Now().AddDate(-2, 0, 0), NotAfter: time.Now().AddDate(-1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := SignDetached([]byte(content), Signer{Cert: old.Cert, Key: old.Key})
	if err != nil {
		t.Fatal(err)
	}
	v := VerifyDetached([]byte(content), sig, NewTrustStore(ca.Cert), time.Now())
	if v.Status == Valid {
		t.Fatalf("a signature made with an expired certificate was accepted: %+v", v)
	}
}

func TestOpaque(t *testing.T) {
	p := newPKI(t)
	p7m, err := SignOpaque([]byte(content), p.signer)
	if err != nil {
		t.Fatal(err)
	}
	got, v := VerifyOpaque(p7m, NewTrustStore(p.ca.Cert), time.Now())
	if v.Status != Valid || string(got) != content {
		t.Fatalf("verdict %+v content %q", v, got)
	}
	// A detached signature is not an opaque one, and the other way round.
	sig, _ := SignDetached([]byte(content), p.signer)
	if _, v := VerifyOpaque(sig, nil, time.Now()); v.Status != Invalid {
		t.Fatalf("detached signature read as opaque: %+v", v)
	}
	if v := VerifyDetached([]byte(content), p7m, nil, time.Now()); v.Status != Invalid {
		t.Fatalf("opaque signature read as detached: %+v", v)
	}
}

// TestOpenSSLInterop checks both directions against the reference implementation.
func TestOpenSSLInterop(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl mancante: installare il pacchetto Debian openssl (openssl missing: apt-get install openssl)")
	}
	p := newPKI(t)
	dir := t.TempDir()
	caFile, err := p.ca.WriteFile(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := p.issued.WriteFiles(dir, "gestore")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "content")
	if err := os.WriteFile(data, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	// ours → openssl
	sig, err := SignDetached([]byte(content), p.signer)
	if err != nil {
		t.Fatal(err)
	}
	sigFile := filepath.Join(dir, "smime.p7s")
	os.WriteFile(sigFile, sig, 0o644)
	out, err := exec.Command(openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", sigFile,
		"-content", data, "-CAfile", caFile, "-purpose", "any", "-out", os.DevNull).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl refuses our signature: %v\n%s", err, out)
	}
	// openssl → ours (the intermediate goes in with -certfile, as a provider would send it)
	interFile := filepath.Join(dir, "inter.pem")
	os.WriteFile(interFile, testpki.CertPEM(p.issued.Chain[0]), 0o644)
	osig := filepath.Join(dir, "openssl.p7s")
	out, err = exec.Command(openssl, "cms", "-sign", "-binary", "-outform", "DER", "-in", data,
		"-signer", certFile, "-certfile", interFile, "-inkey", keyFile, "-md", "sha256", "-out", osig).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl sign: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(osig)
	if v := VerifyDetached([]byte(content), b, NewTrustStore(p.ca.Cert), time.Now()); v.Status != Valid {
		t.Fatalf("openssl signature: %+v", v)
	}
	if v := VerifyDetached([]byte(content+"x"), b, NewTrustStore(p.ca.Cert), time.Now()); v.Status != Invalid {
		t.Fatalf("openssl signature over altered content: %+v", v)
	}
}

func TestLoadTrust(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	both := append(testpki.CertPEM(p.ca.Cert), testpki.CertPEM(p.other.Cert)...)
	os.WriteFile(filepath.Join(dir, "bundle.pem"), both, 0o644)
	os.WriteFile(filepath.Join(dir, "gestore.der"), p.issued.Cert.Raw, 0o644)
	os.WriteFile(filepath.Join(dir, "README.txt"), []byte("ignored"), 0o644)
	ts, err := LoadTrust(dir)
	if err != nil || ts.Len() != 3 {
		t.Fatalf("load: %v, %d certs", err, ts.Len())
	}
	empty := t.TempDir()
	if _, err := LoadTrust(empty); err == nil || !strings.Contains(err.Error(), "no certificate found") {
		t.Fatalf("empty dir: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644)
	if _, err := LoadTrust(bad); err == nil || !strings.Contains(err.Error(), "bad.pem") {
		t.Fatalf("bad file: %v", err)
	}
	if _, err := LoadTrust(filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("missing path: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	p := newPKI(f)
	sig, _ := SignDetached([]byte(content), p.signer)
	p7m, _ := SignOpaque([]byte(content), p.signer)
	f.Add(sig)
	f.Add(p7m)
	f.Add([]byte{0x30, 0x80, 0x06, 0x09})
	trust := NewTrustStore(p.ca.Cert)
	f.Fuzz(func(t *testing.T, b []byte) {
		v := VerifyDetached([]byte(content), b, trust, time.Now())
		if v.Status == Valid && !bytes.Equal(b, sig) && len(b) < len(sig)/2 {
			t.Fatalf("a mangled signature verified: %x", b)
		}
		_, _ = VerifyOpaque(b, trust, time.Now())
	})
}
