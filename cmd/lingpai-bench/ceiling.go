package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"runtime"

	"golang.org/x/crypto/argon2"

	"github.com/lingpai/lingpai/internal/hashing"
)

// The ceilings: the one piece of work a scenario cannot avoid, run bare on every core, so each
// figure can be read as a fraction of what the machine could do at best.

const (
	ceilRSA    = "RSA-2048 signature (ceiling)"
	ceilECDSA  = "ECDSA P-256 signature (ceiling)"
	ceilArgon2 = "argon2id 19 MiB t=2 (ceiling)"
)

// ceilings returns the ceiling operations, each run on GOMAXPROCS goroutines.
func ceilings() ([]item, error) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9"))
	p, salt := hashing.DefaultArgon2, make([]byte, 16)
	n := runtime.GOMAXPROCS(0)
	return []item{
		{backend: "-", name: ceilRSA, conc: n, op: func(int) error {
			_, err := rsa.SignPKCS1v15(nil, rk, crypto.SHA256, sum[:])
			return err
		}},
		{backend: "-", name: ceilECDSA, conc: n, op: func(int) error {
			_, err := ecdsa.SignASN1(rand.Reader, ek, sum[:])
			return err
		}},
		{backend: "-", name: ceilArgon2, conc: n, op: func(int) error {
			argon2.IDKey([]byte("alice-password"), salt, p.Time, p.Memory, p.Threads, 32)
			return nil
		}},
	}, nil
}
