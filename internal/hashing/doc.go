// Package hashing stores and checks secrets: user passwords and client secrets. The format of a
// stored hash is recognised by its prefix, so one column can hold a fast hash for generated
// high-entropy client secrets, argon2id for secrets a person chose, and hashes imported from
// IdentityServer4 / ASP.NET Identity or bcrypt, all checked in constant time.
package hashing
