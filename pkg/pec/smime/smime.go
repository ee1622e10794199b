// Package smime signs and verifies the S/MIME (CMS/PKCS#7 signed-data) signatures PEC
// providers put on every envelope, receipt and notice, against a trust store of
// provider certificates or CAs read from configuration. It never goes to the network.
//
// A verdict separates what an operator must tell apart: the content was altered or the
// signature is broken (Invalid), the signature is intact but its signer does not chain to
// the trust store (Untrusted), no trust store was given (Unchecked), or all is well
// (Valid). Per the PEC rules a message is never dropped for its signature; the verdict
// is recorded and shown.
package smime

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/smallstep/pkcs7"
)

// Status is the outcome of a verification.
type Status string

// Verification outcomes.
const (
	Valid     Status = "valid"     // intact, and the signer chains to the trust store
	Untrusted Status = "untrusted" // intact, but the signer does not chain to the trust store
	Unchecked Status = "unchecked" // intact; no trust store was given, so the signer was not checked
	Invalid   Status = "invalid"   // altered content, broken or malformed signature
	Missing   Status = "missing"   // no signature where one was expected
)

// Verdict is the result of verifying one signature.
type Verdict struct {
	Status      Status
	Signer      string            // subject of the signer's certificate, "" when unknown
	Cert        *x509.Certificate // the signer's certificate, when found
	SigningTime time.Time         // from the signed attributes, zero when absent
	Reason      string            // why the verdict is not Valid, Italian then English
}

// OK reports whether the signature is intact and trusted.
func (v Verdict) OK() bool { return v.Status == Valid }

// Intact reports whether the signed content is what the signer signed, whoever the
// signer is.
func (v Verdict) Intact() bool {
	return v.Status == Valid || v.Status == Untrusted || v.Status == Unchecked
}

// TrustStore holds the certificates a signer must chain to: providers' CAs or the
// providers' own signing certificates (as the AgID index of PEC providers lists them).
type TrustStore struct {
	pool  *x509.CertPool
	certs []*x509.Certificate
	// chains caches verified chains by signer and intermediates: a provider signs every
	// message with the same certificate, so the chain is built once; each use still
	// checks the validity window of every certificate at the time asked.
	chains sync.Map // [32]byte → []*x509.Certificate
}

// trusted reports whether cert chains to the store at time at, with the given
// intermediates.
func (t *TrustStore) trusted(cert *x509.Certificate, intermediates []*x509.Certificate, at time.Time) error {
	h := sha256.New()
	h.Write(cert.Raw)
	for _, c := range intermediates {
		h.Write(c.Raw)
	}
	var key [32]byte
	h.Sum(key[:0])
	if v, ok := t.chains.Load(key); ok {
		chain := v.([]*x509.Certificate)
		valid := true
		for _, c := range chain {
			if at.Before(c.NotBefore) || at.After(c.NotAfter) {
				valid = false
			}
		}
		if valid {
			return nil
		}
	}
	inter := x509.NewCertPool()
	for _, c := range intermediates {
		inter.AddCert(c)
	}
	chains, err := cert.Verify(x509.VerifyOptions{Roots: t.pool, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return err
	}
	t.chains.Store(key, chains[0])
	return nil
}

// NewTrustStore makes a trust store of certs.
func NewTrustStore(certs ...*x509.Certificate) *TrustStore {
	t := &TrustStore{pool: x509.NewCertPool()}
	for _, c := range certs {
		t.pool.AddCert(c)
		t.certs = append(t.certs, c)
	}
	return t
}

// Len returns the number of certificates in the store.
func (t *TrustStore) Len() int {
	if t == nil {
		return 0
	}
	return len(t.certs)
}

// LoadTrust reads certificates from files and directories: PEM (one or many
// certificates) or DER, with extensions .pem, .crt, .cer or .der inside a directory. It
// fails naming the file that cannot be read, and when nothing was found.
func LoadTrust(paths ...string) (*TrustStore, error) {
	var certs []*x509.Certificate
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("smime: archivio di fiducia %s: %w (trust store unreadable)", p, err)
		}
		files := []string{p}
		if st.IsDir() {
			files = nil
			entries, err := os.ReadDir(p)
			if err != nil {
				return nil, fmt.Errorf("smime: archivio di fiducia %s: %w (trust store unreadable)", p, err)
			}
			for _, e := range entries {
				switch strings.ToLower(filepath.Ext(e.Name())) {
				case ".pem", ".crt", ".cer", ".der":
					if !e.IsDir() {
						files = append(files, filepath.Join(p, e.Name()))
					}
				}
			}
			sort.Strings(files)
		}
		for _, f := range files {
			cs, err := readCerts(f)
			if err != nil {
				return nil, err
			}
			certs = append(certs, cs...)
		}
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("smime: nessun certificato in %s: aggiungere i certificati dei gestori PEC in PEM o DER (no certificate found: add the PEC providers' certificates as PEM or DER)", strings.Join(paths, ", "))
	}
	return NewTrustStore(certs...), nil
}

func readCerts(file string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("smime: certificato %s: %w", file, err)
	}
	var certs []*x509.Certificate
	if strings.Contains(string(data), "-----BEGIN") {
		rest := data
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("smime: certificato %s: %w (certificate unreadable)", file, err)
			}
			certs = append(certs, c)
		}
		if len(certs) == 0 {
			return nil, fmt.Errorf("smime: %s: nessun blocco CERTIFICATE nel PEM (no CERTIFICATE block in PEM)", file)
		}
		return certs, nil
	}
	c, err := x509.ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("smime: certificato %s: né PEM né DER leggibile: %w (neither readable PEM nor DER)", file, err)
	}
	return []*x509.Certificate{c}, nil
}

// Signer is a signing certificate with its key and the intermediates to embed.
type Signer struct {
	Cert  *x509.Certificate
	Key   crypto.Signer
	Chain []*x509.Certificate // intermediates, leaf and root excluded
}

// SignDetached returns a detached CMS signature (DER) over content, SHA-256, with the
// signer's certificate and chain embedded: the smime.p7s of a multipart/signed.
func SignDetached(content []byte, s Signer) ([]byte, error) {
	return sign(content, s, true)
}

// SignOpaque returns a CMS signed-data (DER) that contains content: the body of an
// application/pkcs7-mime; smime-type=signed-data message.
func SignOpaque(content []byte, s Signer) ([]byte, error) {
	return sign(content, s, false)
}

func sign(content []byte, s Signer, detach bool) ([]byte, error) {
	if s.Cert == nil || s.Key == nil {
		return nil, errors.New("smime: firma senza certificato o chiave (signer without certificate or key)")
	}
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		return nil, fmt.Errorf("smime: sign: %w", err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSignerChain(s.Cert, s.Key, s.Chain, pkcs7.SignerInfoConfig{}); err != nil {
		return nil, fmt.Errorf("smime: sign as %s: %w", s.Cert.Subject, err)
	}
	if detach {
		sd.Detach()
	}
	out, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("smime: sign: %w", err)
	}
	return out, nil
}

// VerifyDetached verifies a detached signature sig (DER or BER) over content, which must
// be the signed part's exact bytes. The signer is checked against trust at the signing
// time the signature declares (when plausible), else at now; trust nil gives Unchecked
// for an intact signature.
func VerifyDetached(content, sig []byte, trust *TrustStore, now time.Time) Verdict {
	p7, v := parse(sig)
	if p7 == nil {
		return v
	}
	if len(p7.Content) != 0 {
		return Verdict{Status: Invalid, Reason: "firma con contenuto incorporato dove era attesa staccata (signature embeds content where a detached one was expected)"}
	}
	p7.Content = content
	return verify(p7, trust, now)
}

// VerifyOpaque verifies a signed-data that embeds its content and returns that content.
// content is nil when the structure cannot be read.
func VerifyOpaque(p7m []byte, trust *TrustStore, now time.Time) ([]byte, Verdict) {
	p7, v := parse(p7m)
	if p7 == nil {
		return nil, v
	}
	if len(p7.Content) == 0 {
		return nil, Verdict{Status: Invalid, Reason: "firma senza contenuto (signed-data without content)"}
	}
	return p7.Content, verify(p7, trust, now)
}

func parse(der []byte) (p7 *pkcs7.PKCS7, v Verdict) {
	if len(der) == 0 {
		return nil, Verdict{Status: Missing, Reason: "firma vuota (empty signature)"}
	}
	defer func() {
		// The ASN.1 parser of a third-party module meets hostile input here: a panic in
		// it must become a verdict, not a crashed consumer.
		if r := recover(); r != nil {
			p7, v = nil, Verdict{Status: Invalid, Reason: fmt.Sprintf("firma malformata (malformed signature): %v", r)}
		}
	}()
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, Verdict{Status: Invalid, Reason: fmt.Sprintf("firma non leggibile: %v (unreadable signature)", err)}
	}
	if len(p7.Signers) == 0 {
		return nil, Verdict{Status: Invalid, Reason: "firma senza firmatari (signature without signers)"}
	}
	return p7, Verdict{}
}

func verify(p7 *pkcs7.PKCS7, trust *TrustStore, now time.Time) (v Verdict) {
	defer func() {
		if r := recover(); r != nil {
			v = Verdict{Status: Invalid, Reason: fmt.Sprintf("firma malformata (malformed signature): %v", r)}
		}
	}()
	if now.IsZero() {
		now = time.Now()
	}
	cert := p7.GetOnlySigner()
	if len(p7.Signers) > 1 {
		return Verdict{Status: Invalid, Reason: fmt.Sprintf("%d firmatari: attesa la sola firma del gestore (%d signers: only the provider's signature is expected)", len(p7.Signers), len(p7.Signers))}
	}
	if cert == nil {
		return Verdict{Status: Invalid, Reason: "certificato del firmatario assente nella firma (signer certificate not included)"}
	}
	v.Cert, v.Signer = cert, cert.Subject.String()
	var st time.Time
	if err := p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeSigningTime, &st); err == nil {
		v.SigningTime = st
	}
	// Integrity first, without a trust store, so a broken signature and an unknown signer
	// are told apart.
	if err := p7.Verify(); err != nil {
		var mismatch *pkcs7.MessageDigestMismatchError
		if errors.As(err, &mismatch) {
			v.Status, v.Reason = Invalid, "contenuto alterato: l'impronta non corrisponde alla firma (content altered: digest does not match the signature)"
		} else {
			v.Status, v.Reason = Invalid, fmt.Sprintf("firma non valida: %v (invalid signature)", err)
		}
		return v
	}
	if trust == nil || trust.Len() == 0 {
		v.Status, v.Reason = Unchecked, "firma integra, firmatario non verificato: nessun archivio di fiducia configurato (signature intact, signer not checked: no trust store configured)"
		return v
	}
	at := now
	if !v.SigningTime.IsZero() && v.SigningTime.Before(now.Add(5*time.Minute)) {
		at = v.SigningTime
	}
	if err := trust.trusted(cert, p7.Certificates, at); err != nil {
		v.Status, v.Reason = Untrusted, fmt.Sprintf("firmatario %s non attendibile: %v (signer not trusted)", v.Signer, err)
		return v
	}
	v.Status = Valid
	return v
}
