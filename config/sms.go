package config

import (
	"fmt"
	"time"

	"github.com/lingpai/lingpai/internal/upstream/smsgw"
)

// SMS configures grant_type=sms: the gateway (inlined: sms.provider, sms.webhook.*, ...) and the
// one-time code's life cycle and sending limits.
type SMS struct {
	smsgw.Config   `yaml:",inline"`
	DefaultRegion  string        `yaml:"default_region"`
	CodeLength     int           `yaml:"code_length"`
	TTL            time.Duration `yaml:"ttl"`
	MaxAttempts    int           `yaml:"max_attempts"`
	ResendInterval time.Duration `yaml:"resend_interval"`
	HourlyLimit    int           `yaml:"hourly_limit"`
	DailyLimit     int           `yaml:"daily_limit"`
	IPHourlyLimit  int           `yaml:"ip_hourly_limit"`
	DailyBudget    int           `yaml:"daily_budget"`
	AutoRegister   bool          `yaml:"auto_register"`
}

// setDefaults fills the keys a present sms section leaves out.
func (s *SMS) setDefaults() {
	s.Config.SetDefaults()
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if s.DefaultRegion == "" {
		s.DefaultRegion = "CN"
	}
	def(&s.CodeLength, 6)
	defD(&s.TTL, 5*time.Minute)
	def(&s.MaxAttempts, 5)
	defD(&s.ResendInterval, time.Minute)
	def(&s.HourlyLimit, 5)
	def(&s.DailyLimit, 10)
	def(&s.IPHourlyLimit, 20)
	def(&s.DailyBudget, 1000)
}

func (s *SMS) validate(demo bool) []error {
	errs := s.Config.Validate("sms", demo)
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("sms.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if s.CodeLength < 4 || s.CodeLength > 10 {
		bad("code_length", "must be between 4 and 10, got %d", s.CodeLength)
	}
	if s.TTL < 30*time.Second || s.TTL > time.Hour {
		bad("ttl", "must be between 30s and 1h, got %s", s.TTL)
	}
	if s.MaxAttempts < 1 || s.MaxAttempts > 10 {
		bad("max_attempts", "must be between 1 and 10, got %d", s.MaxAttempts)
	}
	for key, v := range map[string]int{"hourly_limit": s.HourlyLimit, "daily_limit": s.DailyLimit, "ip_hourly_limit": s.IPHourlyLimit, "daily_budget": s.DailyBudget} {
		if v < 1 {
			bad(key, "must be at least 1, got %d", v)
		}
	}
	if s.ResendInterval < 0 {
		bad("resend_interval", "must not be negative")
	}
	if len(s.DefaultRegion) != 2 {
		bad("default_region", "must be an ISO 3166 country code such as CN, got %q", s.DefaultRegion)
	}
	return errs
}
