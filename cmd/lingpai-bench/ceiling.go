package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"runtime"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/lingpai/lingpai/internal/hashing"
)

// The ceilings: the one piece of work a scenario cannot avoid, run bare on every core, so each
// figure can be read as a fraction of what the machine could do at best.

func ceilingRSA(warmup, d time.Duration) (result, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return result{}, err
	}
	sum := sha256.Sum256([]byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9"))
	r := measure(runtime.GOMAXPROCS(0), warmup, d, func(int) error {
		_, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
		return err
	})
	r.name = "RSA-2048 signature (ceiling)"
	return r, nil
}

func ceilingECDSA(warmup, d time.Duration) (result, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return result{}, err
	}
	sum := sha256.Sum256([]byte("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9"))
	r := measure(runtime.GOMAXPROCS(0), warmup, d, func(int) error {
		_, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
		return err
	})
	r.name = "ECDSA P-256 signature (ceiling)"
	return r, nil
}

func ceilingArgon2(warmup, d time.Duration) result {
	p := hashing.DefaultArgon2
	salt := make([]byte, 16)
	r := measure(runtime.GOMAXPROCS(0), warmup, d, func(int) error {
		argon2.IDKey([]byte("alice-password"), salt, p.Time, p.Memory, p.Threads, 32)
		return nil
	})
	r.name = "argon2id 19 MiB t=2 (ceiling)"
	return r
}
