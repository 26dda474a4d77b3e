package cli

import "github.com/lingpai/lingpai/internal/phone"

// normalizePhone stores phones in E.164, as the sms grant looks them up.
func normalizePhone(raw, region string) (string, error) {
	if raw == "" {
		return "", nil
	}
	return phone.Normalize(raw, region)
}
