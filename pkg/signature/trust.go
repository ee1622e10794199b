package signature

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// maxTrustFile bounds one file of a trust store folder.
const maxTrustFile = 16 << 20

// TrustStore holds the trust anchors (CA certificates) signatures must chain to, and the
// certificate revocation lists found beside them. It never fetches anything: no AIA, no
// OCSP, no CRL distribution points.
type TrustStore struct {
	pool  *x509.CertPool
	certs []*x509.Certificate
	crls  []*x509.RevocationList
}

// NewTrustStore makes a trust store of the given anchors.
func NewTrustStore(anchors ...*x509.Certificate) *TrustStore {
	t := &TrustStore{pool: x509.NewCertPool()}
	for _, c := range anchors {
		t.AddCertificate(c)
	}
	return t
}

// AddCertificate adds a trust anchor.
func (t *TrustStore) AddCertificate(c *x509.Certificate) {
	t.pool.AddCert(c)
	t.certs = append(t.certs, c)
}

// AddCRL adds a revocation list. It is used only for certificates whose issuer (a
// certificate of the verified chain) signed it.
func (t *TrustStore) AddCRL(crl *x509.RevocationList) { t.crls = append(t.crls, crl) }

// Certificates returns the trust anchors.
func (t *TrustStore) Certificates() []*x509.Certificate { return t.certs }

// LoadTrustStore reads every regular file of dir (not recursing, skipping names that
// start with a dot): PEM files with one or more CERTIFICATE or X509 CRL blocks, or DER
// files holding one or more certificates or one CRL. A file that holds neither, or that
// cannot be read, is an error naming the file: a trust store silently missing a CA would
// reject valid invoices.
func LoadTrustStore(dir string) (*TrustStore, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("signature: cartella delle CA attendibili %s non leggibile (trust store folder unreadable): %w", dir, err)
	}
	t := NewTrustStore()
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		info, err := os.Stat(path) // follows symbolic links, as c_rehash folders use them
		if err != nil {
			return nil, fmt.Errorf("signature: %s: file non leggibile (unreadable file): %w", path, err)
		}
		if info.IsDir() {
			continue
		}
		if !info.Mode().IsRegular() {
			return nil, fmt.Errorf("signature: %s: non è un file regolare (not a regular file)", path)
		}
		if info.Size() > maxTrustFile {
			return nil, fmt.Errorf("signature: %s: file di %d byte, troppo grande per un certificato (%d-byte file, too large for a certificate)", path, info.Size(), info.Size())
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("signature: %s: file non leggibile (unreadable file): %w", path, err)
		}
		if err := t.addFile(data); err != nil {
			return nil, fmt.Errorf("signature: %s: %w", path, err)
		}
	}
	if len(t.certs) == 0 {
		return nil, fmt.Errorf("signature: nessun certificato di CA in %s: copiarvi i certificati delle CA attendibili, PEM o DER "+
			"(no CA certificate in %s: copy the trusted CA certificates there, PEM or DER)", dir, dir)
	}
	return t, nil
}

var errNothingUsable = errors.New("nessun certificato né CRL: atteso PEM (CERTIFICATE, X509 CRL) o DER " +
	"(neither a certificate nor a CRL: expected PEM CERTIFICATE/X509 CRL blocks or DER)")

func (t *TrustStore) addFile(data []byte) error {
	if bytes.Contains(data, []byte("-----BEGIN")) {
		found := 0
		for rest := data; ; {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			switch b.Type {
			case "CERTIFICATE":
				c, err := x509.ParseCertificate(b.Bytes)
				if err != nil {
					return fmt.Errorf("certificato PEM n. %d non valido (PEM certificate #%d invalid): %w", found+1, found+1, err)
				}
				t.AddCertificate(c)
			case "X509 CRL":
				crl, err := x509.ParseRevocationList(b.Bytes)
				if err != nil {
					return fmt.Errorf("CRL PEM non valida (PEM CRL invalid): %w", err)
				}
				t.AddCRL(crl)
			default:
				continue // keys or other blocks sometimes share a bundle: not ours to judge
			}
			found++
		}
		if found == 0 {
			return errNothingUsable
		}
		return nil
	}
	if certs, err := x509.ParseCertificates(data); err == nil && len(certs) > 0 {
		for _, c := range certs {
			t.AddCertificate(c)
		}
		return nil
	}
	if crl, err := x509.ParseRevocationList(data); err == nil {
		t.AddCRL(crl)
		return nil
	}
	return errNothingUsable
}

// verifyChain checks signer's certificate at time at: a chain to a trust anchor (with the
// intermediates the signature carries), key usage fit for signing, no revocation before
// at. It returns the chain, signer first.
func (v *Verifier) verifyChain(name string, signer *x509.Certificate, intermediates []*x509.Certificate, at time.Time) ([]*x509.Certificate, error) {
	if v.IntegrityOnly {
		return nil, nil
	}
	who := subject(signer)
	if signer.KeyUsage != 0 && signer.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return nil, fail(name, ErrCertificateInvalid, nil,
			"il certificato di %s non è abilitato alla firma (digitalSignature/nonRepudiation assenti) "+
				"(the certificate of %s is not allowed to sign: no digitalSignature/nonRepudiation key usage)", who, who)
	}
	if v.Trust == nil || len(v.Trust.certs) == 0 {
		return nil, fail(name, ErrUntrustedCA, nil,
			"nessuna CA attendibile configurata: impossibile verificare il certificato di %s "+
				"(no trust anchors configured: cannot check the certificate of %s)", who, who)
	}
	pool := x509.NewCertPool()
	for _, c := range intermediates {
		pool.AddCert(c)
	}
	chains, err := signer.Verify(x509.VerifyOptions{
		Roots:         v.Trust.pool,
		Intermediates: pool,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	when := at.UTC().Format(time.RFC3339)
	if err != nil {
		var unknown x509.UnknownAuthorityError
		var invalid x509.CertificateInvalidError
		switch {
		case errors.As(err, &unknown):
			return nil, fail(name, ErrUntrustedCA, err,
				"il certificato di %s (emesso da %s) non discende da una CA attendibile configurata "+
					"(the certificate of %s, issued by %s, does not chain to a configured trusted CA)",
				who, signer.Issuer.String(), who, signer.Issuer.String())
		case errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil &&
			invalid.Cert.Equal(signer) && at.After(signer.NotAfter):
			return nil, fail(name, ErrExpired, nil,
				"certificato di firma di %s scaduto il %s, prima della firma (%s) "+
					"(signing certificate of %s expired on %s, before the signing time %s)",
				who, signer.NotAfter.UTC().Format(time.RFC3339), when, who, signer.NotAfter.UTC().Format(time.RFC3339), when)
		case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
			return nil, fail(name, ErrCertificateInvalid, err,
				"un certificato della catena di %s non era valido al %s (a certificate of the chain of %s was not valid at %s)",
				who, when, who, when)
		default:
			return nil, fail(name, ErrCertificateInvalid, err,
				"catena del certificato di %s non valida al %s (certificate chain of %s not valid at %s)", who, when, who, when)
		}
	}
	chain := chains[0]
	if err := v.Trust.checkRevocation(chain, at); err != nil {
		return nil, fail(name, ErrRevoked, nil, "%s", err.Error())
	}
	return chain, nil
}

// checkRevocation looks up every certificate of chain (anchor excluded) in the CRLs
// its issuer signed.
func (t *TrustStore) checkRevocation(chain []*x509.Certificate, at time.Time) error {
	if len(t.crls) == 0 {
		return nil
	}
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		for _, crl := range t.crls {
			if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) || crl.CheckSignatureFrom(issuer) != nil {
				continue
			}
			for _, r := range crl.RevokedCertificateEntries {
				if r.SerialNumber.Cmp(cert.SerialNumber) == 0 && !r.RevocationTime.After(at) {
					who := subject(cert)
					rt := r.RevocationTime.UTC().Format(time.RFC3339)
					return fmt.Errorf("certificato di %s revocato il %s (certificate of %s revoked on %s)", who, rt, who, rt)
				}
			}
		}
	}
	return nil
}

// subject names a certificate for an operator: its common name, or the whole subject.
func subject(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return fmt.Sprintf("%q", c.Subject.CommonName)
	}
	return fmt.Sprintf("%q", c.Subject.String())
}
