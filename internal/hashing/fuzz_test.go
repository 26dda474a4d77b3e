package hashing

import (
	"context"
	"testing"
)

// FuzzCompare feeds stored hashes of every recognised format (ASP.NET Identity v3, argon2id,
// bcrypt, lingpai's fast SHA-256), well-formed and mangled, to Compare: it must never panic, never
// spend unbounded memory or time on the parameters a hash names, and accept a secret only for a
// hash that really is of that secret.
func FuzzCompare(f *testing.F) {
	h := Hasher{Argon2: Argon2Params{Memory: 64, Time: 1, Threads: 1}}
	argon, _ := h.Hash(context.Background(), []byte("s3cret"))
	f.Add(string(argon), "s3cret")
	f.Add(string(HashGenerated([]byte("s3cret"))), "s3cret")
	f.Add("$2a$04$K5pBpt2Y9HbrH1JKlLDdXOkGzq6n0dC7Jbq7m2m1k5T1j0Qqv3l9W", "s3cret")
	f.Add("AQAAAAEAACcQAAAAEJ6Q4t3kz7RLkT6pVz0f2xY3d0dN3J2r1o5QmZk3b0u8l6v0Zf8n3Q0tXy9p1aBcDw==", "Pass123$")
	f.Add("$argon2id$v=19$m=4294967295,t=4294967295,p=255$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5", "x")
	f.Add("$argon2id$v=19$m=64,t=0,p=0$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5", "x")
	f.Add("AQAAAAH/////AAAACAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", "x")
	f.Fuzz(func(t *testing.T, stored, secret string) {
		err := h.Compare(context.Background(), []byte(stored), []byte(secret))
		if err == nil && h.Compare(context.Background(), []byte(stored), []byte(secret+"x")) == nil {
			t.Fatalf("hash %q accepts two different secrets", stored)
		}
	})
}
