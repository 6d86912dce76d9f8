package devca

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"testing"
)

func TestCAIssuesTrustedCertificates(t *testing.T) {
	ca, err := NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("*.us.localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"abc.us.localhost", "127.0.0.1"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: host}); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "abc.eu.localhost"}); err == nil {
		t.Error("certificate valid for a host it does not name")
	}
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := WriteFiles(cert, cf, kf); err != nil {
		t.Fatal(err)
	}
	loaded, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	// A TLS handshake against the loaded pair succeeds with the CA's pool.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{loaded}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "x.us.localhost"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestSelfSigned(t *testing.T) {
	cert, err := SelfSigned("localhost")
	if err != nil {
		t.Fatal(err)
	}
	if cert.Leaf.Subject.CommonName != "localhost" || len(cert.Leaf.DNSNames) != 1 {
		t.Fatalf("leaf %+v", cert.Leaf.Subject)
	}
}

func TestLoadOrCreateKeepsTheCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	first, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(first.CertPEM) != string(second.CertPEM) {
		t.Fatal("a second LoadOrCreate made a new CA")
	}
	cf, kf := filepath.Join(dir, "edge.pem"), filepath.Join(dir, "edge-key.pem")
	if err := second.IssueFiles(cf, kf, "*.us.localhost", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: first.Pool(), DNSName: "a.us.localhost"}); err != nil {
		t.Fatalf("certificate from the reloaded CA does not verify against the first: %v", err)
	}
}
