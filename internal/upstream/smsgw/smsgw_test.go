package smsgw_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lingpai/lingpai/internal/smscode"
	"github.com/lingpai/lingpai/internal/upstream/smsgw"
	"github.com/lingpai/lingpai/internal/upstream/smsgw/smsgwtest"
)

type fake interface {
	Last(phone string) string
	FailNext(code string)
	Hang(d time.Duration)
}

func TestProviders(t *testing.T) {
	type setup struct {
		sender smscode.Sender
		fake   fake
		// wantPhone is how the vendor expects the number.
		wantPhone string
	}
	mk := map[string]func(t *testing.T, goodKey bool, logs *bytes.Buffer) setup{
		"webhook": func(t *testing.T, goodKey bool, logs *bytes.Buffer) setup {
			w := smsgwtest.NewWebhook(t, "hook-secret")
			key := "hook-secret"
			if !goodKey {
				key = "wrong"
			}
			s, err := smsgw.New(smsgw.Config{Provider: "webhook", Webhook: smsgw.Webhook{URL: w.URL, Secret: key, Timeout: 2 * time.Second}},
				slog.New(slog.NewTextHandler(logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			return setup{s, w, "+8613800138000"}
		},
		"aliyun": func(t *testing.T, goodKey bool, logs *bytes.Buffer) setup {
			a := smsgwtest.NewAliyun(t, "LTAI5tAKID", "ali-secret")
			key := "ali-secret"
			if !goodKey {
				key = "wrong"
			}
			s, err := smsgw.New(smsgw.Config{Provider: "aliyun", Aliyun: smsgw.Aliyun{Endpoint: a.URL, AccessKeyID: "LTAI5tAKID",
				AccessKeySecret: key, SignName: "令牌", TemplateCode: "SMS_123", Timeout: 2 * time.Second}}, slog.New(slog.NewTextHandler(logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			return setup{s, a, "13800138000"}
		},
		"tencent": func(t *testing.T, goodKey bool, logs *bytes.Buffer) setup {
			f := smsgwtest.NewTencent(t, "AKIDtencent", "tc-secret")
			key := "tc-secret"
			if !goodKey {
				key = "wrong"
			}
			s, err := smsgw.New(smsgw.Config{Provider: "tencent", Tencent: smsgw.Tencent{Endpoint: f.URL, SecretID: "AKIDtencent",
				SecretKey: key, SdkAppID: "1400000000", SignName: "令牌", TemplateID: "1234567", Timeout: 2 * time.Second}}, slog.New(slog.NewTextHandler(logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			return setup{s, f, "+8613800138000"}
		},
	}
	limitCode := map[string]string{"webhook": "429", "aliyun": "isv.BUSINESS_LIMIT_CONTROL", "tencent": "LimitExceeded.PhoneNumberDailyLimit"}
	ctx := context.Background()
	for name, build := range mk {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			s := build(t, true, &logs)
			if err := s.sender.Send(ctx, "+8613800138000", "481516", 5*time.Minute); err != nil {
				t.Fatalf("send: %v", err)
			}
			if got := s.fake.Last(s.wantPhone); got != "481516" {
				t.Fatalf("gateway received code %q", got)
			}
			s.fake.FailNext(limitCode[name])
			limitErr := s.sender.Send(ctx, "+8613800138000", "234234", time.Minute)
			// A vendor's own limit code is a volume refusal (429 to the client); the webhook's
			// contract is simpler: any non-2xx, 429 included, is an unavailable gateway (503).
			if limited := errors.Is(limitErr, smscode.ErrGatewayLimited); limitErr == nil || limited != (name != "webhook") {
				t.Fatalf("vendor limit: %v", limitErr)
			}
			s.fake.Hang(time.Minute)
			if err := s.sender.Send(ctx, "+8613800138000", "345345", time.Minute); err == nil || errors.Is(err, smscode.ErrGatewayLimited) {
				t.Fatalf("timeout: %v", err)
			}
			s.fake.Hang(0)
			bad := build(t, false, &logs)
			err := bad.sender.Send(ctx, "+8613800138000", "777999", time.Minute)
			if err == nil || errors.Is(err, smscode.ErrGatewayLimited) {
				t.Fatalf("wrong secret: %v", err)
			}
			for _, code := range []string{"234234", "345345", "777999"} {
				if strings.Contains(logs.String(), code) || strings.Contains(err.Error(), code) {
					t.Fatalf("a code reached the log or an error: %s / %v", logs.String(), err)
				}
			}
		})
	}
}

func TestWebhookServerError(t *testing.T) {
	w := smsgwtest.NewWebhook(t, "s")
	s, _ := smsgw.New(smsgw.Config{Provider: "webhook", Webhook: smsgw.Webhook{URL: w.URL, Secret: "s"}}, slog.New(slog.DiscardHandler))
	w.FailNext("500")
	if err := s.Send(context.Background(), "+8613800138000", "123456", time.Minute); err == nil || errors.Is(err, smscode.ErrGatewayLimited) {
		t.Fatalf("500: %v", err)
	}
	body := []byte(`{"phone":"+8613800138000"}`)
	if !smsgw.VerifyWebhookSignature([]byte("k"), body, smsgw.Sign([]byte("k"), body)) || smsgw.VerifyWebhookSignature([]byte("k"), body, "sha256=00") {
		t.Fatal("VerifyWebhookSignature")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  smsgw.Config
		demo bool
		want string
	}{
		{"log refused", smsgw.Config{Provider: "log"}, false, "sms.provider"},
		{"webhook without url", smsgw.Config{Provider: "webhook", Webhook: smsgw.Webhook{Secret: "x"}}, false, "sms.webhook.url"},
		{"webhook without secret", smsgw.Config{Provider: "webhook", Webhook: smsgw.Webhook{URL: "https://x"}}, false, "sms.webhook.secret"},
		{"aliyun without template", smsgw.Config{Provider: "aliyun", Aliyun: smsgw.Aliyun{AccessKeyID: "a", AccessKeySecret: "b", SignName: "c"}}, false, "sms.aliyun.template_code"},
		{"tencent without app", smsgw.Config{Provider: "tencent", Tencent: smsgw.Tencent{SecretID: "a", SecretKey: "b", SignName: "c", TemplateID: "d"}}, false, "sms.tencent.sdk_app_id"},
		{"tencent template params", smsgw.Config{Provider: "tencent", Tencent: smsgw.Tencent{SecretID: "a", SecretKey: "b", SdkAppID: "1", SignName: "c", TemplateID: "d", TemplateParams: []string{"minutes", "name"}}}, false, "sms.tencent.template_params"},
		{"tencent template params without code", smsgw.Config{Provider: "tencent", Tencent: smsgw.Tencent{SecretID: "a", SecretKey: "b", SdkAppID: "1", SignName: "c", TemplateID: "d", TemplateParams: []string{"minutes"}}}, false, "sms.tencent.template_params"},
		{"unknown", smsgw.Config{Provider: "pigeon"}, false, "sms.provider"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.cfg.Validate("sms", tt.demo)
			if len(errs) == 0 || !strings.Contains(errs[0].Error(), tt.want) {
				t.Fatalf("errors %v, want one naming %s", errs, tt.want)
			}
		})
	}
	if errs := (smsgw.Config{Provider: "log"}).Validate("sms", true); len(errs) != 0 {
		t.Fatalf("log provider with --demo: %v", errs)
	}
	if errs := (smsgw.Config{Provider: "log", AllowLogProvider: true}).Validate("sms", false); len(errs) != 0 {
		t.Fatalf("log provider allowed: %v", errs)
	}
}

// TestTencentTemplateParams: the parameters sent match the approved template, which Tencent checks.
func TestTencentTemplateParams(t *testing.T) {
	tests := []struct {
		name     string
		params   []string
		template int // parameters the approved template has
		ok       bool
	}{
		{"default code and minutes", nil, 2, true},
		{"code only", []string{"code"}, 1, true},
		{"default against a one-parameter template", nil, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := smsgwtest.NewTencent(t, "AKIDtencent", "key")
			f.TemplateParams = tt.template
			s, err := smsgw.New(smsgw.Config{Provider: "tencent", Tencent: smsgw.Tencent{Endpoint: f.URL, SecretID: "AKIDtencent", SecretKey: "key",
				SdkAppID: "1400000000", SignName: "令牌", TemplateID: "1234567", TemplateParams: tt.params}}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), "+8613800138000", "135790", 5*time.Minute)
			if (err == nil) != tt.ok {
				t.Fatalf("send: %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && f.Last("+8613800138000") != "135790" {
				t.Fatalf("gateway received %q", f.Last("+8613800138000"))
			}
		})
	}
}
