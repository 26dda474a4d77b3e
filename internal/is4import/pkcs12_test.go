package is4import_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/lingpai/lingpai/internal/is4import"
	"github.com/lingpai/lingpai/internal/is4import/is4test"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
)

// readPEM returns the private key and certificate openssl wrote, parsed with the standard library.
func readPEM(t *testing.T, p is4test.PFX) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	block := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			t.Fatalf("%s: no PEM", path)
		}
		return blk.Bytes
	}
	k, err := x509.ParsePKCS8PrivateKey(block(p.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(block(p.CertPEM))
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey), cert
}

// TestPKCS12SigningKey imports IS4's signing certificate as a .pfx that the openssl CLI made
// (OpenSSL 3 defaults: AES-256, SHA-256 MAC), with its password in a file: the key is published
// in the JWKS under IS4's kid (thumbprint + RS256), a JWT go-jose v4 signed with it under that kid
// introspects active at the running server, and with --signing-key-active lingpai's own tokens
// carry that kid and verify with the certificate's public key. A wrong password stops the import
// before anything is written, naming the file.
func TestPKCS12SigningKey(t *testing.T) {
	ctx := context.Background()
	pfx := is4test.OpenSSLPFX(t, "pfx pass+word")
	priv, cert := readPEM(t, pfx)
	s := lingpaitest.Start(t, "sqlite", nil)
	src := is4test.New(t, "sqlite")
	seed := is4test.Seed(t, src)

	wrongPassword := t.TempDir() + "/wrong.txt"
	if err := os.WriteFile(wrongPassword, []byte("not the password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrong := options(src)
	wrong.SigningKeyFile, wrong.SigningKeyPasswordFile = pfx.Path, wrongPassword
	_, err := is4import.Run(ctx, wrong, s.Store, nil)
	if err == nil || !strings.Contains(err.Error(), pfx.Path) || !strings.Contains(err.Error(), "wrong PKCS#12 password") {
		t.Fatalf("wrong password: %v", err)
	}
	if cs, _ := s.Store.ListClients(ctx); len(cs) != 0 {
		t.Fatalf("a wrong password still imported %d clients", len(cs))
	}

	o := options(src)
	o.SigningKeyFile, o.SigningKeyPasswordFile = pfx.Path, pfx.PasswordFile
	rep, err := is4import.Run(ctx, o, s.Store, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k := rep.Kind("signing-key"); k == nil || k.Imported != 1 || len(k.Notes) != 1 || k.Notes[0].ID != pfx.KID {
		t.Fatalf("signing-key report %+v, want kid %s", k, pfx.KID)
	}

	// Published under IS4's kid, with the certificate's public key.
	var set jose.JSONWebKeySet
	jwks := s.Do(mustGet(t, s.URL+"/.well-known/openid-configuration/jwks"))
	if err := json.Unmarshal([]byte(jwks.Raw), &set); err != nil {
		t.Fatal(err)
	}
	if ks := set.Key(pfx.KID); len(ks) != 1 || !ks[0].Key.(*rsa.PublicKey).Equal(cert.PublicKey) {
		t.Fatalf("JWKS %s lacks kid %s with the certificate's key", jwks.Raw, pfx.KID)
	}

	// A token IS4 signed (here: go-jose v4 with the PEM key openssl exported) introspects active.
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: pfx.KID}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	payload, _ := json.Marshal(map[string]any{"iss": s.URL, "sub": "a1c3f6e2-0000-4000-8000-000000000001", "client_id": "app",
		"scope": []string{"openid", "api1.read"}, "aud": "api1", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := jws.CompactSerialize()
	if in := s.Post("/connect/introspect", url.Values{"token": {tok}}, "api1", "api-secret"); in.Status != 200 || in.Body["active"] != true || in.Str("client_id") != "app" {
		t.Fatalf("IS4-signed token at introspection: %d %s", in.Status, in.Raw)
	}

	// --signing-key-active: lingpai signs with the certificate's key under its kid.
	o.SigningKeyActive = true
	if _, err := is4import.Run(ctx, o, s.Store, nil); err != nil {
		t.Fatal(err)
	}
	r := s.Token("app", seed.SecretSHA256, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {is4test.Password}, "scope": {"openid api1.read"}})
	if r.Status != 200 {
		t.Fatalf("password grant: %d %s", r.Status, r.Raw)
	}
	for _, name := range []string{"access_token", "id_token"} {
		parsed, err := jose.ParseSigned(r.Str(name), []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			t.Fatal(err)
		}
		if kid := parsed.Signatures[0].Header.KeyID; kid != pfx.KID {
			t.Errorf("%s kid %q, want the imported %q", name, kid, pfx.KID)
		}
		if _, err := parsed.Verify(cert.PublicKey); err != nil {
			t.Errorf("%s does not verify with the certificate: %v", name, err)
		}
	}
}
