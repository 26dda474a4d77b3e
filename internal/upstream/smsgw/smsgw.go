package smsgw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/lingpai/lingpai/internal/smscode"
	"github.com/lingpai/lingpai/internal/tracing"
)

// Config is the provider part of config's sms section (inlined there: sms.provider, sms.webhook.url...).
type Config struct {
	Provider         string  `yaml:"provider"`
	AllowLogProvider bool    `yaml:"allow_log_provider"`
	Webhook          Webhook `yaml:"webhook"`
	Aliyun           Aliyun  `yaml:"aliyun"`
	Tencent          Tencent `yaml:"tencent"`
}

// Webhook posts codes to an in-house gateway.
type Webhook struct {
	URL        string        `yaml:"url"`
	Secret     string        `yaml:"secret"`
	SecretFile string        `yaml:"secret_file"`
	Timeout    time.Duration `yaml:"timeout"`
}

// Aliyun is Alibaba Cloud SMS (dysmsapi SendSms).
type Aliyun struct {
	Endpoint            string        `yaml:"endpoint"`
	AccessKeyID         string        `yaml:"access_key_id"`
	AccessKeySecret     string        `yaml:"access_key_secret"`
	AccessKeySecretFile string        `yaml:"access_key_secret_file"`
	SignName            string        `yaml:"sign_name"`
	TemplateCode        string        `yaml:"template_code"`
	Timeout             time.Duration `yaml:"timeout"`
}

// Tencent is Tencent Cloud SMS (SendSms 2021-01-11).
type Tencent struct {
	Endpoint      string `yaml:"endpoint"`
	Region        string `yaml:"region"`
	SecretID      string `yaml:"secret_id"`
	SecretKey     string `yaml:"secret_key"`
	SecretKeyFile string `yaml:"secret_key_file"`
	SdkAppID      string `yaml:"sdk_app_id"`
	SignName      string `yaml:"sign_name"`
	TemplateID    string `yaml:"template_id"`
	// TemplateParams fills the template's {1}, {2}...: "code" and "minutes" (valid for). It must
	// match the approved template exactly: Tencent refuses a send with more or fewer parameters.
	TemplateParams []string      `yaml:"template_params"`
	Timeout        time.Duration `yaml:"timeout"`
}

// SetDefaults fills what a section may leave out.
func (c *Config) SetDefaults() {
	if c.Webhook.Timeout == 0 {
		c.Webhook.Timeout = 5 * time.Second
	}
	if c.Aliyun.Timeout == 0 {
		c.Aliyun.Timeout = 5 * time.Second
	}
	if c.Aliyun.Endpoint == "" {
		c.Aliyun.Endpoint = "https://dysmsapi.aliyuncs.com"
	}
	if c.Tencent.Timeout == 0 {
		c.Tencent.Timeout = 5 * time.Second
	}
	if c.Tencent.Endpoint == "" {
		c.Tencent.Endpoint = "https://sms.tencentcloudapi.com"
	}
	if c.Tencent.Region == "" {
		c.Tencent.Region = "ap-guangzhou"
	}
	if len(c.Tencent.TemplateParams) == 0 {
		c.Tencent.TemplateParams = []string{"code", "minutes"}
	}
}

// Validate names every bad key under prefix (sms). demo allows the log provider.
func (c Config) Validate(prefix string, demo bool) []error {
	var errs []error
	bad := func(key, msg string) { errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, key, msg)) }
	need := func(key, v string) {
		if v == "" {
			bad(key, "required when "+prefix+".provider is "+c.Provider)
		}
	}
	switch c.Provider {
	case "log":
		if !c.AllowLogProvider && !demo {
			bad("provider", "log writes codes to the server log and is for development only; set "+prefix+".allow_log_provider: true to use it anyway")
		}
	case "webhook":
		if !strings.HasPrefix(c.Webhook.URL, "http://") && !strings.HasPrefix(c.Webhook.URL, "https://") {
			bad("webhook.url", "must be an http(s) URL")
		}
		if c.Webhook.Secret == "" && c.Webhook.SecretFile == "" {
			bad("webhook.secret", "required (or webhook.secret_file): it signs every request")
		}
	case "aliyun":
		need("aliyun.access_key_id", c.Aliyun.AccessKeyID)
		if c.Aliyun.AccessKeySecret == "" && c.Aliyun.AccessKeySecretFile == "" {
			bad("aliyun.access_key_secret", "required (or aliyun.access_key_secret_file)")
		}
		need("aliyun.sign_name", c.Aliyun.SignName)
		need("aliyun.template_code", c.Aliyun.TemplateCode)
	case "tencent":
		need("tencent.secret_id", c.Tencent.SecretID)
		if c.Tencent.SecretKey == "" && c.Tencent.SecretKeyFile == "" {
			bad("tencent.secret_key", "required (or tencent.secret_key_file)")
		}
		need("tencent.sdk_app_id", c.Tencent.SdkAppID)
		need("tencent.sign_name", c.Tencent.SignName)
		need("tencent.template_id", c.Tencent.TemplateID)
		hasCode := false
		for _, p := range c.Tencent.TemplateParams {
			switch p {
			case "code":
				hasCode = true
			case "minutes":
			default:
				bad("tencent.template_params", "each entry must be code or minutes, got "+p)
			}
		}
		if len(c.Tencent.TemplateParams) > 0 && !hasCode {
			bad("tencent.template_params", "must include code")
		}
	case "":
		bad("provider", "required: log, webhook, aliyun or tencent")
	default:
		bad("provider", "must be log, webhook, aliyun or tencent, got "+c.Provider)
	}
	return errs
}

func secret(value, file string) (string, error) {
	if file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("smsgw: read secret file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// New builds the configured provider; a gateway's sends are traced (a span under the request's).
func New(cfg Config, logger *slog.Logger) (smscode.Sender, error) {
	cfg.SetDefaults()
	s, err := build(cfg, logger)
	if err != nil || cfg.Provider == "log" {
		return s, err
	}
	return traced{s, cfg.Provider}, nil
}

// traced puts a span around each send; a gateway's refusal for volume is an answer, not an outage.
type traced struct {
	smscode.Sender
	provider string
}

func (t traced) Send(ctx context.Context, phone, code string, ttl time.Duration) error {
	ctx, span := tracing.Start(ctx, "sms.send", attribute.String("sms.provider", t.provider))
	err := t.Sender.Send(ctx, phone, code, ttl)
	if errors.Is(err, smscode.ErrGatewayLimited) {
		tracing.End(span, err, errUnavailable) // recorded, not a failure
	} else {
		tracing.End(span, err)
	}
	return err
}

func build(cfg Config, logger *slog.Logger) (smscode.Sender, error) {
	switch cfg.Provider {
	case "log":
		logger.Warn("sms.provider is log: one-time codes are written to the server log; development only")
		return &Log{Logger: logger}, nil
	case "webhook":
		s, err := secret(cfg.Webhook.Secret, cfg.Webhook.SecretFile)
		if err != nil {
			return nil, err
		}
		return &WebhookSender{URL: cfg.Webhook.URL, Secret: []byte(s), Client: &http.Client{Timeout: cfg.Webhook.Timeout}}, nil
	case "aliyun":
		s, err := secret(cfg.Aliyun.AccessKeySecret, cfg.Aliyun.AccessKeySecretFile)
		if err != nil {
			return nil, err
		}
		a := cfg.Aliyun
		a.AccessKeySecret = s
		return &AliyunSender{Config: a, Client: &http.Client{Timeout: a.Timeout}, Logger: logger}, nil
	case "tencent":
		s, err := secret(cfg.Tencent.SecretKey, cfg.Tencent.SecretKeyFile)
		if err != nil {
			return nil, err
		}
		t := cfg.Tencent
		t.SecretKey = s
		return &TencentSender{Config: t, Client: &http.Client{Timeout: t.Timeout}, Logger: logger}, nil
	}
	return nil, fmt.Errorf("smsgw: unknown provider %q", cfg.Provider)
}

// Log writes codes to the log: development only.
type Log struct{ Logger *slog.Logger }

// Send implements smscode.Sender.
func (l *Log) Send(ctx context.Context, phone, code string, ttl time.Duration) error {
	l.Logger.WarnContext(ctx, "DEVELOPMENT ONLY: sms code (sms.provider=log)", "phone", phone, "code", code, "ttl", ttl.String())
	return nil
}

// errUnavailable marks gateway failures; callers map them to 503.
var errUnavailable = errors.New("smsgw: gateway unavailable")

// transportErr strips URLs from client errors (they may carry credentials in the query).
func transportErr(provider string, err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			err = inner
		}
	}
	return fmt.Errorf("%w: %s: %w", errUnavailable, provider, err)
}
