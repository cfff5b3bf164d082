package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
)

// certificate serves serve's TLS certificate (--tls-cert, --tls-key) to
// each handshake, and reads it again from its files on reload, so that a
// renewed certificate is served without a restart. The certificate is
// swapped atomically: a handshake under way keeps the one it took, the
// next takes the new one, and none waits on a reload.
type certificate struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

// loadCertificate reads the certificate and its private key from their
// PEM files. It fails, naming the files, when either cannot be read or
// parsed or when the key is not the certificate's.
func loadCertificate(certFile, keyFile string) (*certificate, error) {
	c := &certificate{certFile: certFile, keyFile: keyFile}
	cert, err := c.read()
	if err != nil {
		return nil, err
	}
	c.current.Store(cert)
	return c, nil
}

// read loads the files as they are now.
func (c *certificate) read() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate --tls-cert %s, key --tls-key %s: %w", c.certFile, c.keyFile, err)
	}
	if cert.Leaf == nil { // set by LoadX509KeyPair since Go 1.23
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("TLS certificate --tls-cert %s: %w", c.certFile, err)
		}
	}
	return &cert, nil
}

// reload reads the files again and serves what they hold from the next
// handshake on. If they cannot be loaded (a renewal half written, a key
// that is not the certificate's), it returns why and the certificate
// served so far stays.
func (c *certificate) reload() (*tls.Certificate, error) {
	cert, err := c.read()
	if err != nil {
		return nil, err
	}
	c.current.Store(cert)
	return cert, nil
}

// config is the server's TLS configuration: TLS 1.2 at least (Go's
// default cipher suites for 1.2 are all forward-secret AEADs), and the
// current certificate for every handshake.
func (c *certificate) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.current.Load(), nil
		},
	}
}

// certAttrs describe a certificate in the log: enough for an operator to
// tell which one is served, and when it ends.
func certAttrs(cert *tls.Certificate) []any {
	sum := sha256.Sum256(cert.Certificate[0])
	return []any{
		"subject", cert.Leaf.Subject.String(),
		"dns_names", cert.Leaf.DNSNames,
		"not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339),
		"sha256", hex.EncodeToString(sum[:]),
	}
}

// logCertificate logs the certificate now served, and warns when it is
// outside its validity: clients will refuse it, but the server still
// serves it, so that a renewal can follow with SIGHUP.
func logCertificate(logger *slog.Logger, msg string, cert *tls.Certificate, now time.Time) {
	logger.Info(msg, certAttrs(cert)...)
	if now.After(cert.Leaf.NotAfter) || now.Before(cert.Leaf.NotBefore) {
		logger.Warn("the TLS certificate is not valid now: clients will refuse it; renew it and send SIGHUP",
			append(certAttrs(cert), "not_before", cert.Leaf.NotBefore.UTC().Format(time.RFC3339))...)
	}
}

// serverErrorLog is the http.Server's error log: its lines at warn level,
// but for failed TLS handshakes, at debug level. Any client, a scanner or
// a load balancer's TCP probe, fails a handshake at will, and net/http
// writes a line for each: at warn, they would be a way to flood the log
// that only HTTPS opens (the API's own lines are bounded, see httpapi's
// observe).
type serverErrorLog struct{ logger *slog.Logger }

func (w serverErrorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	level := slog.LevelWarn
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		level = slog.LevelDebug
	}
	w.logger.Log(context.Background(), level, msg)
	return len(p), nil
}
