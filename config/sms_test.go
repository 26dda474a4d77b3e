package config

import (
	"strings"
	"testing"
	"time"
)

func TestSMSSection(t *testing.T) {
	const hook = "grants:\n  enabled: [refresh_token, sms]\nsms:\n  provider: webhook\n  webhook:\n    url: https://gw.example/sms\n    secret: s3cret\n"
	tests := []struct {
		name, yaml string
		env        []string
		demo       bool
		want       []string // substrings of the error; none means it loads
	}{
		{"grant listed, section missing", "grants:\n  enabled: [sms]\n", nil, false, []string{"sms: required"}},
		{"log provider refused", "grants:\n  enabled: [sms]\nsms:\n  provider: log\n", nil, false, []string{"sms.provider", "allow_log_provider"}},
		{"log provider with --demo", "grants:\n  enabled: [sms]\nsms:\n  provider: log\n", nil, true, nil},
		{"log provider allowed", "grants:\n  enabled: [sms]\nsms:\n  provider: log\n  allow_log_provider: true\n", nil, false, nil},
		{"webhook", hook, nil, false, nil},
		{"bad limits name their keys", hook + "  code_length: 3\n  hourly_limit: -1\n  ttl: 2h\n", nil, false,
			[]string{"sms.code_length", "sms.hourly_limit", "sms.ttl"}},
		{"inlined key from the environment", hook, []string{"LINGPAI_SMS_WEBHOOK_URL=ftp://x"}, false, []string{"sms.webhook.url"}},
		{"aliyun needs its keys", "grants:\n  enabled: [sms]\nsms:\n  provider: aliyun\n", nil, false,
			[]string{"sms.aliyun.access_key_id", "sms.aliyun.access_key_secret", "sms.aliyun.sign_name", "sms.aliyun.template_code"}},
		{"tencent needs its keys", "grants:\n  enabled: [sms]\nsms:\n  provider: tencent\n", nil, false,
			[]string{"sms.tencent.secret_id", "sms.tencent.secret_key", "sms.tencent.sdk_app_id", "sms.tencent.sign_name", "sms.tencent.template_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []Option
			if tt.demo {
				opts = append(opts, Demo())
			}
			_, err := Load(write(t, tt.yaml), true, tt.env, opts...)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("did not load: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("loaded without error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestSMSDefaults(t *testing.T) {
	cfg, err := Load(write(t, "grants:\n  enabled: [sms]\nsms:\n  provider: webhook\n  webhook:\n    url: https://gw.example/sms\n    secret: s\n"), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.SMS
	if s.DefaultRegion != "CN" || s.CodeLength != 6 || s.TTL != 5*time.Minute || s.MaxAttempts != 5 || s.ResendInterval != time.Minute ||
		s.HourlyLimit != 5 || s.DailyLimit != 10 || s.IPHourlyLimit != 20 || s.DailyBudget != 1000 || s.AutoRegister ||
		s.Webhook.Timeout != 5*time.Second {
		t.Fatalf("defaults: %+v", s)
	}
	if cfg, _ := Load("", false, nil); cfg.SMS != nil {
		t.Fatal("an absent sms section must stay nil: sms is off")
	}
}
