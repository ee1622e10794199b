package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"testing"
	"time"
)

func TestMutualTLSAndChains(t *testing.T) {
	root := MustCA("Root")
	inter, err := root.Intermediate("Inter", Options{Key: RSA})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := inter.Server("srv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := root.Client("cli", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{srv.TLS()}, ClientCAs: root.Pool(), ClientAuth: tls.RequireAndVerifyClientCert})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("ok"))
			c.Close()
		}
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: root.Pool(), Certificates: []tls.Certificate{cli.TLS()}})
	if err != nil {
		t.Fatalf("mutual TLS through an intermediate: %v", err)
	}
	b, _ := io.ReadAll(conn)
	if string(b) != "ok" {
		t.Fatalf("read %q", b)
	}
	if _, err := srv.Cert.Verify(x509.VerifyOptions{Roots: MustCA("Other").Pool()}); err == nil {
		t.Fatal("a certificate verified against an unrelated root")
	}
	old, _ := root.Signing("old", Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	if _, err := old.Cert.Verify(x509.VerifyOptions{Roots: root.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
		t.Fatal("expired certificate verified")
	}
	if !srv.Cert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatal("server certificate lacks 127.0.0.1")
	}
}
