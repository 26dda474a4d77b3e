package is4import_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite/token/jwt"

	"github.com/lingpai/lingpai/internal/is4import"
	"github.com/lingpai/lingpai/internal/is4import/is4test"
	"github.com/lingpai/lingpai/internal/keys"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

// signingFiles writes one RSA key the ways IS4 deployments keep it.
func signingFiles(t *testing.T) (key *rsa.PrivateKey, pemWithCert, bare, tempkeyJWK, tempkeyRSA []byte, thumbKID string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "is4"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(der)
	thumbKID = strings.ToUpper(hex.EncodeToString(sum[:])) + "RS256"
	bare = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	pemWithCert = append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), bare...)
	tempkeyJWK, _ = (&jose.JSONWebKey{Key: key, KeyID: "0123456789ABCDEF0123456789ABCDEF"}).MarshalJSON()
	b64 := func(i *big.Int) string { return base64.StdEncoding.EncodeToString(i.Bytes()) }
	key.Precompute()
	tempkeyRSA, _ = json.Marshal(map[string]any{"KeyId": "legacy-kid", "Parameters": map[string]string{
		"D": b64(key.D), "DP": b64(key.Precomputed.Dp), "DQ": b64(key.Precomputed.Dq), "Exponent": b64(big.NewInt(int64(key.E))),
		"InverseQ": b64(key.Precomputed.Qinv), "Modulus": b64(key.N), "P": b64(key.Primes[0]), "Q": b64(key.Primes[1])}})
	return
}

func TestParseSigningKey(t *testing.T) {
	_, withCert, bare, jwk, rsaFile, thumb := signingFiles(t)
	tests := []struct {
		name      string
		data      []byte
		kid, want string
		fails     bool
	}{
		{"PEM with certificate: thumbprint + alg", withCert, "", thumb, false},
		{"tempkey.jwk keeps its kid", jwk, "", "0123456789ABCDEF0123456789ABCDEF", false},
		{"3.x tempkey.rsa keeps its KeyId", rsaFile, "", "legacy-kid", false},
		{"bare PEM needs a kid", bare, "", "", true},
		{"bare PEM with a kid", bare, "host-kid", "host-kid", false},
		{"garbage", []byte("hello"), "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := is4import.ParseSigningKey(tt.data, "", tt.kid)
			if tt.fails {
				if err == nil {
					t.Fatal("parsed, want an error")
				}
				return
			}
			if err != nil || k.KeyID != tt.want || k.Algorithm != "RS256" {
				t.Fatalf("got %v %v", k, err)
			}
		})
	}
}

// TestSigningKeyImport: the imported key is published and verifies a token IS4 signed (by kid),
// without signing; with SigningKeyActive lingpai signs with it.
func TestSigningKeyImport(t *testing.T) {
	ctx := context.Background()
	key, withCert, _, _, _, thumb := signingFiles(t)
	src := is4test.New(t, "sqlite")
	st := storagetest.OpenSQLite(t, storage.Options{})
	kr, err := keys.New(ctx, st, keys.Options{Algorithm: "RS256", Overlap: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	native, _ := kr.Active(ctx)
	o := options(src)
	o.Only, o.SigningKey = []string{"clients"}, withCert
	rep, err := is4import.Run(ctx, o, st, nil)
	if err != nil || rep.Kind("signing-key").Imported != 1 {
		t.Fatalf("import: %+v %v", rep.Kind("signing-key"), err)
	}
	if err := kr.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if a, _ := kr.Active(ctx); a.KeyID != native.KeyID {
		t.Fatalf("active key %s, want lingpai's own %s", a.KeyID, native.KeyID)
	}
	set, _ := kr.PublicKeys(ctx)
	if len(set.Key(thumb)) != 1 {
		t.Fatalf("JWKS lacks kid %s", thumb)
	}
	// A token IS4 signed: its kid header is the thumbprint kid.
	is4Signer := &jwt.DefaultSigner{GetPrivateKey: func(context.Context) (interface{}, error) {
		return &jose.JSONWebKey{Key: key, KeyID: thumb, Algorithm: "RS256"}, nil
	}}
	tok, _, err := is4Signer.Generate(ctx, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}, &jwt.Headers{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Signer().Validate(ctx, tok); err != nil {
		t.Fatalf("IS4-signed token does not verify: %v", err)
	}

	o.SigningKeyActive = true
	if rep, err = is4import.Run(ctx, o, st, nil); err != nil || rep.Kind("signing-key").Updated != 1 {
		t.Fatalf("re-import active: %+v %v", rep.Kind("signing-key"), err)
	}
	_ = kr.Refresh(ctx)
	if a, _ := kr.Active(ctx); a.KeyID != thumb {
		t.Fatalf("active key %s, want the imported %s", a.KeyID, thumb)
	}
}
