// Package clientauth checks client secrets for fosite (it is fosite's ClientSecretsHasher): a
// per-process cache of successful checks, so a client whose secret a person chose (argon2id)
// pays the slow hash once per replica per cache TTL rather than on every request, and the
// throttle, so failed client authentications are counted per client id + IP and per IP like
// passwords.
package clientauth
