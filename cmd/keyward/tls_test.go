package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testCert is a self-signed certificate for 127.0.0.1 and localhost, and
// its key, as PEM.
type testCert struct {
	cert    *x509.Certificate
	certPEM []byte
	keyPEM  []byte
}

func newTestCert(t *testing.T, name string, notBefore, notAfter time.Time) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // self-signed: it is its own root
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{
		cert:    cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

// validCert is a certificate valid for the length of a test.
func validCert(t *testing.T, name string) testCert {
	t.Helper()
	now := time.Now()
	return newTestCert(t, name, now.Add(-time.Hour), now.Add(time.Hour))
}

// writeFile replaces path's content as a renewal would: written aside,
// then renamed over it.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// install writes c to the certificate and key files.
func (c testCert) install(t *testing.T, certFile, keyFile string) {
	t.Helper()
	writeFile(t, keyFile, c.keyPEM)
	writeFile(t, certFile, c.certPEM)
}

// servedCert connects to addr with a new connection, trusting the given
// certificates only, and returns the certificate the server presented and
// the status of GET /healthz.
func servedCert(t *testing.T, addr string, trusted ...*x509.Certificate) (*x509.Certificate, int) {
	t.Helper()
	pool := x509.NewCertPool()
	for _, c := range trusted {
		pool.AddCert(c)
	}
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true},
	}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("GET https://%s/healthz: %v", addr, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		t.Fatal("the answer came without TLS")
	}
	return resp.TLS.PeerCertificates[0], resp.StatusCode
}

// TestTLSReloadOnSIGHUP runs keyward serve with --tls-cert and --tls-key as
// a real process: it serves HTTPS (TLS 1.2 at least) with the certificate;
// after the files are replaced and SIGHUP is sent, new connections get
// the new certificate; a SIGHUP with broken files keeps the certificate
// served and the process; the debug address stays plain HTTP; SIGTERM
// still shuts down cleanly.
func TestTLSReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first, second := validCert(t, "first"), validCert(t, "second")
	first.install(t, certFile, keyFile)

	p := startProcessWith(t, true, "--db", filepath.Join(dir, "keyward.db"),
		"--tls-cert", certFile, "--tls-key", keyFile, "--debug-addr", "127.0.0.1:0")
	addr := strings.TrimPrefix(p.url, "http://")

	got, status := servedCert(t, addr, first.cert)
	if status != http.StatusOK || !got.Equal(first.cert) {
		t.Fatalf("served %q with status %d; want the first certificate and 200", got.Subject.CommonName, status)
	}
	// The API is not also served in plain HTTP on the same port.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered 200 on the TLS port")
		}
	}
	// Nothing older than TLS 1.2.
	old := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if conn, err := tls.Dial("tcp", addr, old); err == nil {
		conn.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}
	// The debug address stays plain HTTP.
	debugAddr := p.stderr.waitFor(t, regexp.MustCompile(`"msg":"profiler and counters listening","addr":"([^"]+)"`), p.done())
	resp, err := http.Get("http://" + debugAddr + "/debug/vars")
	if err != nil {
		t.Fatalf("debug address over plain HTTP: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("debug address: %d", resp.StatusCode)
	}

	second.install(t, certFile, keyFile)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.stderr.waitFor(t, regexp.MustCompile(`"msg":"(reloaded the TLS certificate)","subject":"CN=second"`), p.done())
	got, status = servedCert(t, addr, first.cert, second.cert)
	if status != http.StatusOK || !got.Equal(second.cert) {
		t.Fatalf("after SIGHUP: served %q with status %d; want the second certificate and 200", got.Subject.CommonName, status)
	}

	// A renewal gone wrong: a key that is not the certificate's, then a
	// certificate file that holds no PEM. Each reload fails, is logged,
	// and the second certificate stays.
	third := validCert(t, "third")
	writeFile(t, certFile, third.certPEM) // its key is still the second's
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.stderr.waitFor(t, regexp.MustCompile(`"msg":"could not reload the TLS certificate; still serving the previous one","err":"([^"]*private key does not match public key[^"]*)"`), p.done())
	writeFile(t, certFile, []byte("not a certificate\n"))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.stderr.waitFor(t, regexp.MustCompile(`"msg":"could not reload the TLS certificate; still serving the previous one","err":"([^"]*failed to find any PEM data[^"]*)"`), p.done())
	got, status = servedCert(t, addr, first.cert, second.cert)
	if status != http.StatusOK || !got.Equal(second.cert) {
		t.Fatalf("after failed reloads: served %q with status %d; want the second certificate still", got.Subject.CommonName, status)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done():
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("process did not exit after SIGTERM")
	}
}

// TestTLSStartFailures: serve refuses to start on certificate files it
// cannot use, naming the flag and the file, before it opens the database
// (so that no root key is created and printed by a start that cannot
// serve); and --tls-cert without --tls-key, or the reverse, is a usage
// error.
func TestTLSStartFailures(t *testing.T) {
	dir := t.TempDir()
	good, other := validCert(t, "good"), validCert(t, "other")
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	good.install(t, certFile, keyFile)
	otherKey := filepath.Join(dir, "other.key")
	garbage := filepath.Join(dir, "garbage.pem")
	keyAsCert := filepath.Join(dir, "key-as-cert.pem")
	for path, data := range map[string][]byte{otherKey: other.keyPEM, garbage: []byte("hello\n"), keyAsCert: good.keyPEM} {
		writeFile(t, path, data)
	}
	missing := filepath.Join(dir, "missing.crt")

	tests := []struct {
		name      string
		cert, key string
		usage     bool
		want      []string
	}{
		{"certificate without key", certFile, "", true, []string{"--tls-cert and --tls-key go together"}},
		{"key without certificate", "", keyFile, true, []string{"--tls-cert and --tls-key go together"}},
		{"missing certificate file", missing, keyFile, false, []string{"--tls-cert " + missing, "no such file"}},
		{"key of another certificate", certFile, otherKey, false, []string{"--tls-key " + otherKey, "private key does not match public key"}},
		{"not PEM", garbage, keyFile, false, []string{"--tls-cert " + garbage, "failed to find any PEM data"}},
		{"a key given as the certificate", keyAsCert, keyFile, false, []string{"--tls-cert " + keyAsCert}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMain(io.Discard, io.Discard)
			m.Config.Addr = "127.0.0.1:0"
			db := filepath.Join(t.TempDir(), "keyward.db")
			m.Config.DB.Path = db
			m.Config.TLSCert, m.Config.TLSKey = tt.cert, tt.key
			err := m.Run(t.Context())
			if err == nil {
				m.Close()
				t.Fatal("Run succeeded")
			}
			if isUsage := errors.As(err, new(usageError)); isUsage != tt.usage {
				t.Errorf("Run: %v: usage error %v, want %v", err, isUsage, tt.usage)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Run: %v; want it to say %q", err, w)
				}
			}
			if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the database was created before the certificate was checked (stat: %v)", err)
			}
		})
	}
}

// TestTLSBadFilesProcess: the real command exits 1 with a message naming
// the file, on stderr, and prints no root key.
func TestTLSBadFilesProcess(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.crt")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "keyward.db"),
		"--tls-cert", missing, "--tls-key", filepath.Join(dir, "missing.key"))
	cmd.Env = append(environWithout(envPrefix), "KEYWARD_TEST_RUN_MAIN=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("serve with a missing certificate: %v, want exit status 1\n%s", err, stderr.String())
	}
	if want := "keyward: TLS certificate --tls-cert " + missing; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout: %q, want nothing (no root key)", stdout.String())
	}
}

// TestTLSCertificateNotValidNow: a certificate outside its validity is
// served (so that a renewal can follow with SIGHUP) with a warning.
func TestTLSCertificateNotValidNow(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	now := time.Now()
	newTestCert(t, "expired", now.Add(-48*time.Hour), now.Add(-24*time.Hour)).install(t, certFile, keyFile)
	s := startServe(t, filepath.Join(dir, "keyward.db"), "--tls-cert", certFile, "--tls-key", keyFile)
	if !s.main.TLS() {
		t.Fatal("TLS() = false with --tls-cert")
	}
	var warned bool
	for _, r := range logRecords(t, s.stderr.String()) {
		if msg, _ := r["msg"].(string); strings.HasPrefix(msg, "the TLS certificate is not valid now") && r["level"] == "WARN" && r["subject"] == "CN=expired" {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning for an expired certificate:\n%s", s.stderr.String())
	}
}

// TestTLSHandshakeErrorsQuiet: a failed handshake, which any client can
// cause, is logged at debug level, not warn.
func TestTLSHandshakeErrorsQuiet(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	validCert(t, "quiet").install(t, certFile, keyFile)
	s := startServe(t, filepath.Join(dir, "keyward.db"), "--tls-cert", certFile, "--tls-key", keyFile, "--log-level", "debug")
	conn, err := net.Dial("tcp", s.main.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) // no ClientHello
	_, _ = io.Copy(io.Discard, conn)
	conn.Close()
	line := s.stderr.waitFor(t, regexp.MustCompile(`("level":"[A-Z]+","msg":"http: TLS handshake error)`), nil)
	if !strings.Contains(line, `"level":"DEBUG"`) {
		t.Errorf("a failed handshake is logged as %s, want at DEBUG", line)
	}
}
