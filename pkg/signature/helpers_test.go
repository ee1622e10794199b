package signature

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"snodo/pkg/testpki"
)

const samplesDir = "../../testdata/signature/samples"

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(samplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// needTool finds a Debian tool the test runs for real, failing with the package to install.
func needTool(t testing.TB, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package %s (apt-get install %s)", tool, pkg, pkg)
	}
	return p
}

func run(t testing.TB, tool string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(tool, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", filepath.Base(tool), strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// testPKI is a root CA, an intermediate CA and signing certificates under it.
type testPKI struct {
	root, inter *testpki.CA
	rsa, ec     *testpki.Issued // valid now, under inter
	expired     *testpki.Issued // expired a year ago
	other       *testpki.CA     // an unrelated root
	dir         string          // PEM files: root.crt, inter.crt, other.crt
}

var (
	pkiOnce sync.Once
	pkiVal  *testPKI
	pkiErr  error
)

func thePKI(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() { pkiVal, pkiErr = newTestPKI() })
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiVal
}

func newTestPKI() (*testPKI, error) {
	p := &testPKI{}
	var err error
	long := testpki.Options{NotBefore: time.Now().Add(-10 * 365 * 24 * time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour)}
	if p.root, err = testpki.NewCA("snodo test root", long); err != nil {
		return nil, err
	}
	if p.inter, err = p.root.Intermediate("snodo test firma qualificata", long); err != nil {
		return nil, err
	}
	if p.rsa, err = p.inter.Signing("Mario Rossi RSA", testpki.Options{Key: testpki.RSA}); err != nil {
		return nil, err
	}
	if p.ec, err = p.inter.Signing("Maria Bianchi ECDSA", testpki.Options{}); err != nil {
		return nil, err
	}
	if p.expired, err = p.inter.Signing("Scaduto", testpki.Options{
		NotBefore: time.Now().Add(-3 * 365 * 24 * time.Hour), NotAfter: time.Now().Add(-365 * 24 * time.Hour)}); err != nil {
		return nil, err
	}
	if p.other, err = testpki.NewCA("unrelated root", long); err != nil {
		return nil, err
	}
	if p.dir, err = os.MkdirTemp("", "snodo-signature-pki-"); err != nil {
		return nil, err
	}
	for name, ca := range map[string]*testpki.CA{"root": p.root, "inter": p.inter, "other": p.other} {
		if _, err := ca.WriteFile(p.dir, name); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *testPKI) file(name string) string { return filepath.Join(p.dir, name+".crt") }

func (p *testPKI) signer(i *testpki.Issued) *Signer {
	return &Signer{Key: i.Key, Cert: i.Cert, Chain: i.Chain}
}

func (p *testPKI) verifier() *Verifier {
	return &Verifier{Trust: NewTrustStore(p.root.Cert)}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pkiVal != nil {
		os.RemoveAll(pkiVal.dir)
	}
	os.Exit(code)
}

// wantClass checks that err is an *Error of class c (nil c: no error).
func wantClass(t testing.TB, err error, c *Class) {
	t.Helper()
	if c == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want an *Error of class %q", err, c.name)
	}
	if !errors.Is(err, c) {
		t.Fatalf("got class %q (%v), want %q", e.Class.name, err, c.name)
	}
	if CodeOf(err) != c.code {
		t.Fatalf("code %q, want %q", CodeOf(err), c.code)
	}
}

func certPool(certs ...*x509.Certificate) *TrustStore { return NewTrustStore(certs...) }

func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
