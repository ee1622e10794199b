// Package testpki makes throwaway certificate authorities and certificates for tests,
// simulators and local runs: a CA, server certificates for 127.0.0.1/localhost, client
// certificates, signing certificates (non-repudiation, like a qualified signature) and
// expired ones, written as PEM files when a component wants paths.
//
// Nothing here is for production trust: keys are generated on the fly (ECDSA P-256 by
// default, RSA on request) and live only as long as the caller keeps them.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// KeyType selects the key algorithm of a new certificate.
type KeyType int

const (
	ECDSA KeyType = iota // P-256
	RSA                  // 2048 bits
)

// CA is a certificate authority able to issue certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Parent is the issuing CA of an intermediate, nil for a root.
	Parent *CA
}

// Issued is a certificate with its private key and the chain up to (excluding) the root.
type Issued struct {
	Cert  *x509.Certificate
	Key   crypto.Signer
	Chain []*x509.Certificate // intermediates, leaf excluded, root excluded
}

// Options tune a certificate. The zero value gives a certificate valid from one hour ago
// for one year.
type Options struct {
	Key       KeyType
	NotBefore time.Time
	NotAfter  time.Time
	DNSNames  []string
	IPs       []net.IP
	Email     []string
}

func (o Options) window() (time.Time, time.Time) {
	nb, na := o.NotBefore, o.NotAfter
	if nb.IsZero() {
		nb = time.Now().Add(-time.Hour)
	}
	if na.IsZero() {
		na = nb.Add(366 * 24 * time.Hour)
	}
	return nb, na
}

func newKey(t KeyType) (crypto.Signer, error) {
	if t == RSA {
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n.Add(n, big.NewInt(1))
}

// NewCA makes a self-signed root CA named cn.
func NewCA(cn string, o Options) (*CA, error) {
	key, err := newKey(o.Key)
	if err != nil {
		return nil, fmt.Errorf("testpki: CA key: %w", err)
	}
	nb, na := o.window()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"snodo test PKI"}, Country: []string{"IT"}},
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("testpki: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// MustCA is NewCA for tests and simulators that cannot continue without it.
func MustCA(cn string) *CA {
	ca, err := NewCA(cn, Options{})
	if err != nil {
		panic(err)
	}
	return ca
}

// Intermediate issues a subordinate CA.
func (ca *CA) Intermediate(cn string, o Options) (*CA, error) {
	iss, err := ca.issue(cn, o, func(c *x509.Certificate) {
		c.IsCA = true
		c.BasicConstraintsValid = true
		c.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	})
	if err != nil {
		return nil, err
	}
	return &CA{Cert: iss.Cert, Key: iss.Key, Parent: ca}, nil
}

// Server issues a TLS server certificate; with no names in o it covers localhost and
// 127.0.0.1.
func (ca *CA) Server(cn string, o Options) (*Issued, error) {
	if len(o.DNSNames) == 0 && len(o.IPs) == 0 {
		o.DNSNames = []string{"localhost"}
		o.IPs = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	return ca.issue(cn, o, func(c *x509.Certificate) {
		c.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
}

// Client issues a TLS client certificate.
func (ca *CA) Client(cn string, o Options) (*Issued, error) {
	return ca.issue(cn, o, func(c *x509.Certificate) {
		c.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	})
}

// Signing issues a document-signing certificate (digitalSignature + nonRepudiation), the
// shape of the qualified certificates that sign invoices and PEC envelopes.
func (ca *CA) Signing(cn string, o Options) (*Issued, error) {
	return ca.issue(cn, o, func(c *x509.Certificate) {
		c.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
	})
}

func (ca *CA) issue(cn string, o Options, shape func(*x509.Certificate)) (*Issued, error) {
	key, err := newKey(o.Key)
	if err != nil {
		return nil, fmt.Errorf("testpki: key for %s: %w", cn, err)
	}
	nb, na := o.window()
	tmpl := &x509.Certificate{
		SerialNumber:   serial(),
		Subject:        pkix.Name{CommonName: cn, Organization: []string{"snodo test PKI"}, Country: []string{"IT"}},
		NotBefore:      nb,
		NotAfter:       na,
		DNSNames:       o.DNSNames,
		IPAddresses:    o.IPs,
		EmailAddresses: o.Email,
	}
	shape(tmpl)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("testpki: certificate for %s: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	var chain []*x509.Certificate
	for p := ca; p != nil && p.Parent != nil; p = p.Parent {
		chain = append(chain, p.Cert)
	}
	return &Issued{Cert: cert, Key: key, Chain: chain}, nil
}

// Pool returns a certificate pool holding the root of ca.
func (ca *CA) Pool() *x509.CertPool {
	root := ca
	for root.Parent != nil {
		root = root.Parent
	}
	p := x509.NewCertPool()
	p.AddCert(root.Cert)
	return p
}

// TLS returns the certificate as a tls.Certificate (leaf then intermediates).
func (i *Issued) TLS() tls.Certificate {
	c := tls.Certificate{Certificate: [][]byte{i.Cert.Raw}, PrivateKey: i.Key, Leaf: i.Cert}
	for _, ic := range i.Chain {
		c.Certificate = append(c.Certificate, ic.Raw)
	}
	return c
}

// CertPEM encodes a certificate as PEM.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// KeyPEM encodes a private key as PKCS#8 PEM.
func KeyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// WriteFiles writes the certificate (leaf then chain) to dir/name.crt and its key to
// dir/name.key (mode 0600) and returns both paths.
func (i *Issued) WriteFiles(dir, name string) (certFile, keyFile string, err error) {
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	certs := CertPEM(i.Cert)
	for _, c := range i.Chain {
		certs = append(certs, CertPEM(c)...)
	}
	if err := os.WriteFile(certFile, certs, 0o644); err != nil {
		return "", "", err
	}
	kp, err := KeyPEM(i.Key)
	if err != nil {
		return "", "", err
	}
	return certFile, keyFile, os.WriteFile(keyFile, kp, 0o600)
}

// WriteFile writes the CA certificate to dir/name.crt and returns the path.
func (ca *CA) WriteFile(dir, name string) (string, error) {
	p := filepath.Join(dir, name+".crt")
	return p, os.WriteFile(p, CertPEM(ca.Cert), 0o644)
}
