// Package claimvalue reads JWT claim values as the JSON decoders in use hand them over: fosite's
// (int64 or json.Number) and encoding/json's (float64), one string or a list.
package claimvalue

import (
	"encoding/json"
	"strings"
	"time"
)

// Time reads a NumericDate claim (exp, iat, nbf); the zero time when it is absent or not a number.
func Time(v any) time.Time {
	switch n := v.(type) {
	case float64:
		return time.Unix(int64(n), 0).UTC()
	case int64:
		return time.Unix(n, 0).UTC()
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			return time.Time{}
		}
		return time.Unix(i, 0).UTC()
	}
	return time.Time{}
}

// Strings reads a claim that is a space-separated string or a list of strings (scope, aud).
// Non-string list members are dropped.
func Strings(v any) []string {
	switch x := v.(type) {
	case string:
		return strings.Fields(x)
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
