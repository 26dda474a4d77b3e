package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func issue(t *testing.T, name string, parent *testCert, isCA bool) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: isCA, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	signer, signerKey := tpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCert{cert: c, key: key, der: der}
}

func (c *testCert) files(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	kb, _ := x509.MarshalECPrivateKey(c.key)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

func (c *testCert) tls() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.der}, PrivateKey: c.key}
}

// TestAdminTLSRequiresClientCertificate: with server.admin_tls the admin listener answers only a
// client presenting a certificate from client_ca_file, over a real TLS handshake.
func TestAdminTLSRequiresClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := issue(t, "admin CA", nil, true)
	caFile, _ := ca.files(t, dir, "ca")
	serverCert, serverKey := issue(t, "lingpai admin", ca, false).files(t, dir, "server")
	conf, err := (&AdminTLS{CertFile: serverCert, KeyFile: serverKey, ClientCAFile: caFile}).Load()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	srv.TLS = conf
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	cases := []struct {
		name   string
		certs  []tls.Certificate
		wantOK bool
	}{
		{"certificate from the CA", []tls.Certificate{issue(t, "ci runner", ca, false).tls()}, true},
		{"no certificate", nil, false},
		{"self-signed certificate", []tls.Certificate{issue(t, "intruder", nil, false).tls()}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: c.certs}}}
			resp, err := client.Get(srv.URL)
			if c.wantOK != (err == nil) {
				t.Fatalf("err = %v, want success %v", err, c.wantOK)
			}
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}

func TestAdminTLSValidation(t *testing.T) {
	dir := t.TempDir()
	ca := issue(t, "admin CA", nil, true)
	caFile, _ := ca.files(t, dir, "ca")
	cert, key := issue(t, "lingpai admin", ca, false).files(t, dir, "server")
	cases := []struct {
		name  string
		addr  string
		tls   AdminTLS
		wants string
	}{
		{"without admin_addr", "", AdminTLS{cert, key, caFile}, "server.admin_tls: needs server.admin_addr"},
		{"missing client CA", "127.0.0.1:9090", AdminTLS{cert, key, ""}, "client_ca_file are all required"},
		{"unreadable key", "127.0.0.1:9090", AdminTLS{cert, filepath.Join(dir, "nope.key"), caFile}, "server.admin_tls.cert_file/key_file"},
		{"CA file not PEM", "127.0.0.1:9090", AdminTLS{cert, key, key}, "server.admin_tls.client_ca_file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default()
			cfg.Server.AdminAddr = c.addr
			tc := c.tls
			cfg.Server.AdminTLS = &tc
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.wants) {
				t.Fatalf("Validate() = %v, want it to mention %q", err, c.wants)
			}
		})
	}
	cfg := Default()
	cfg.Server.AdminAddr = "127.0.0.1:9090"
	cfg.Server.AdminTLS = &AdminTLS{cert, key, caFile}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("a complete admin_tls: %v", err)
	}
}
