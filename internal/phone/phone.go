// Package phone normalises phone numbers to E.164 with libphonenumber's rules
// (github.com/nyaruka/phonenumbers), so "13800138000", "+86 138 0013 8000" and
// "008613800138000" are one number and one account.
package phone

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalid means the input is not a valid phone number.
var ErrInvalid = errors.New("phone: not a valid number")

// Normalize returns raw in E.164 form (+8613800138000). Numbers without a country code are read
// in defaultRegion (ISO 3166, e.g. CN); "00" international prefixes are understood.
func Normalize(raw, defaultRegion string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" || len(s) > 32 {
		return "", fmt.Errorf("%w: empty or too long", ErrInvalid)
	}
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:] // the ITU international prefix, used across China and Europe
	}
	num, err := phonenumbers.Parse(s, defaultRegion)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", fmt.Errorf("%w: not a number in use", ErrInvalid)
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// Mask hides the middle of a number for logs: +8613800138000 -> +86138****8000.
func Mask(e164 string) string {
	if len(e164) < 9 {
		return "****"
	}
	return e164[:len(e164)-8] + "****" + e164[len(e164)-4:]
}
