package handlers

import (
	"net/url"

	"github.com/ory/fosite"
)

// InputLimits are the longest values (in bytes) lingpai accepts for the parameters of its
// endpoints; a longer one is 400 invalid_request before anything looks it up, hashes it or counts
// it. Usernames fit the users column (191) after normalisation, passwords bound the work of a
// hash, the rest are generous bounds of what a real client sends. README lists them.
var InputLimits = map[string]int{
	"username":              128,
	"password":              1024,
	"phone":                 32,
	"sms":                   16,
	"code":                  1024,
	"code_verifier":         128, // RFC 7636 section 4.1
	"openId":                128,
	"unionId":               128,
	"appid":                 64,
	"scope":                 2048,
	"refresh_token":         1024,
	"client_id":             191,
	"client_secret":         1024,
	"redirect_uri":          2048,
	"audience":              2048,
	"grant_type":            128,
	"token":                 8192,
	"token_type_hint":       64,
	"client_assertion":      8192,
	"client_assertion_type": 256,
}

// checkLengths refuses a form with a value over its limit (every value, where a name repeats).
func checkLengths(form url.Values) error {
	for name, vals := range form {
		limit, ok := InputLimits[name]
		if !ok {
			continue
		}
		for _, v := range vals {
			if len(v) > limit {
				return fosite.ErrInvalidRequest.WithHintf("The parameter %s is longer than %d bytes.", name, limit)
			}
		}
	}
	return nil
}
