package devca

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// WriteFiles writes cert's chain and private key as PEM files (the key
// readable by the owner only).
func WriteFiles(cert tls.Certificate, certFile, keyFile string) error {
	var chain []byte
	for _, der := range cert.Certificate {
		chain = append(chain, pemBlock("CERTIFICATE", der)...)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return fmt.Errorf("encode private key: %w", err)
	}
	if err := os.WriteFile(certFile, chain, 0o644); err != nil {
		return fmt.Errorf("write certificate: %w", err)
	}
	if err := os.WriteFile(keyFile, pemBlock("PRIVATE KEY", keyDER), 0o600); err != nil {
		return fmt.Errorf("write private key: %w", err)
	}
	return nil
}

// LoadOrCreate returns the CA kept in dir as ca.pem and ca-key.pem,
// creating both (and dir) on first use, so every run of a local stack
// issues certificates from the same CA that agents trust with
// `--ca DIR/ca.pem`.
func LoadOrCreate(dir string) (*CA, error) {
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err == nil {
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", certFile, err)
		}
		key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
		if !ok || !leaf.IsCA {
			return nil, fmt.Errorf("%s is not an ECDSA certificate authority", certFile)
		}
		return &CA{cert: leaf, key: key, CertPEM: pemBlock("CERTIFICATE", leaf.Raw)}, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("load development CA: %w", err)
	}
	ca, err := NewCA("Edgeway development CA")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := WriteFiles(tls.Certificate{Certificate: [][]byte{ca.cert.Raw}, PrivateKey: ca.key}, certFile, keyFile); err != nil {
		return nil, err
	}
	return ca, nil
}

// IssueFiles issues a certificate for hosts and writes it and its key to
// certFile and keyFile.
func (ca *CA) IssueFiles(certFile, keyFile string, hosts ...string) error {
	cert, err := ca.Issue(hosts...)
	if err != nil {
		return err
	}
	return WriteFiles(cert, certFile, keyFile)
}
