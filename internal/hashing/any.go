package hashing

import (
	"context"
	"encoding/base64"
	"strings"
)

// anyPrefix marks several stored hashes joined into one value: a client with more than one live
// secret (rotation, secrets imported from IdentityServer4). fosite would otherwise compare each
// hash in turn, and a check that counts failures would count one per hash that did not match.
const anyPrefix = "$any$"

// Any joins stored hashes into one value that matches a secret when any of them does. Empty
// hashes are left out; one hash is returned as it is.
func Any(hashes ...[]byte) []byte {
	var parts []string
	var one []byte
	for _, h := range hashes {
		if len(h) == 0 {
			continue
		}
		one = h
		parts = append(parts, base64.RawStdEncoding.EncodeToString(h))
	}
	if len(parts) <= 1 {
		return one
	}
	return []byte(anyPrefix + strings.Join(parts, ","))
}

// Alternatives splits a value made by Any; any other stored hash is its own only alternative.
func Alternatives(stored []byte) [][]byte {
	s := string(stored)
	if !strings.HasPrefix(s, anyPrefix) {
		return [][]byte{stored}
	}
	var out [][]byte
	for _, p := range strings.Split(s[len(anyPrefix):], ",") {
		if h, err := base64.RawStdEncoding.DecodeString(p); err == nil {
			out = append(out, h)
		}
	}
	return out
}

// compareAny is Compare over the alternatives of stored: nil on the first that matches, else
// the last error (ErrMismatch when every one was checked and none matched).
func (h Hasher) compareAny(ctx context.Context, stored, secret []byte) error {
	err := ErrMismatch
	for _, alt := range Alternatives(stored) {
		if err = h.Compare(ctx, alt, secret); err == nil {
			return nil
		}
	}
	return err
}
