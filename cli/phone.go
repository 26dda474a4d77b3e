package cli

import "strings"

// normalizePhone is replaced by the phone package's E.164 normalisation when SMS lands.
func normalizePhone(p string) (string, error) {
	return strings.ReplaceAll(strings.TrimSpace(p), " ", ""), nil
}
