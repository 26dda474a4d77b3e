package is4test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// PFX is a signing certificate made as IS4 deployments make theirs, with the openssl CLI.
type PFX struct {
	Path, PasswordFile string // the .pfx and a file holding its password
	KeyPEM, CertPEM    string // what it was exported from
	KID                string // IS4 4.x's kid: X509SecurityKey.KeyId (SHA-1 thumbprint, hex upper case) + "RS256"
}

// OpenSSLPFX runs `openssl req -x509` and `openssl pkcs12 -export` (OpenSSL 3's defaults:
// PBES2, AES-256-CBC, a SHA-256 MAC) in a temporary directory; the test is skipped without
// openssl. The kid comes from `openssl x509 -fingerprint -sha1`, not from lingpai's code.
func OpenSSLPFX(t testing.TB, password string) PFX {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	p := PFX{Path: filepath.Join(dir, "signing.pfx"), PasswordFile: filepath.Join(dir, "pfx-password.txt"),
		KeyPEM: filepath.Join(dir, "key.pem"), CertPEM: filepath.Join(dir, "cert.pem")}
	if err := os.WriteFile(p.PasswordFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	openssl := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("openssl", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p.KeyPEM, "-out", p.CertPEM, "-days", "30", "-subj", "/CN=IdentityServer4 signing")
	openssl("pkcs12", "-export", "-inkey", p.KeyPEM, "-in", p.CertPEM, "-out", p.Path, "-passout", "file:"+p.PasswordFile)
	fp := openssl("x509", "-in", p.CertPEM, "-noout", "-fingerprint", "-sha1") // "SHA1 Fingerprint=6B:7A:..."
	_, hex, _ := strings.Cut(strings.TrimSpace(fp), "=")
	p.KID = strings.ToUpper(strings.ReplaceAll(hex, ":", "")) + "RS256"
	return p
}
