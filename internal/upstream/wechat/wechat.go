// Package wechat verifies a WeChat identity with WeChat itself: it exchanges a login code for the
// user's openid (and unionid) at WeChat's API, for mini programs (jscode2session) and for websites
// and mobile apps (the OAuth access_token exchange). The session_key and WeChat access token it
// receives are never returned, logged or stored.
package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/lingpai/lingpai/internal/tracing"
)

// App is one WeChat application lingpai accepts codes from.
type App struct {
	ID         string `yaml:"id"`    // ours, for logs
	AppID      string `yaml:"appid"` // WeChat's AppID
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	Type       string `yaml:"type"` // miniprogram | oauth (website QR login and mobile apps)
}

// Config is the wechat section.
type Config struct {
	APIBaseURL   string        `yaml:"api_base_url"`
	Timeout      time.Duration `yaml:"timeout"`
	AutoRegister *bool         `yaml:"auto_register"`
	Apps         []App         `yaml:"apps"`
}

// SetDefaults fills what the section leaves out.
func (c *Config) SetDefaults() {
	if c.APIBaseURL == "" {
		c.APIBaseURL = "https://api.weixin.qq.com"
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.AutoRegister == nil {
		t := true
		c.AutoRegister = &t
	}
}

// Validate names every bad key under prefix (wechat).
func (c Config) Validate(prefix string) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	if u, err := url.Parse(c.APIBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("api_base_url", "must be an http(s) URL, got %q", c.APIBaseURL)
	}
	if c.Timeout <= 0 {
		bad("timeout", "must be positive")
	}
	if len(c.Apps) == 0 {
		bad("apps", "lists no WeChat application")
	}
	ids, appids := map[string]bool{}, map[string]bool{}
	for i, a := range c.Apps {
		key := fmt.Sprintf("apps[%d]", i)
		if a.ID == "" {
			bad(key+".id", "required")
		} else if ids[a.ID] {
			bad(key+".id", "%q is used twice", a.ID)
		}
		ids[a.ID] = true
		if a.AppID == "" {
			bad(key+".appid", "required")
		} else if appids[a.AppID] {
			bad(key+".appid", "%q is used twice", a.AppID)
		}
		appids[a.AppID] = true
		if a.Secret == "" && a.SecretFile == "" {
			bad(key+".secret", "required (or secret_file)")
		}
		if a.Type != "miniprogram" && a.Type != "oauth" {
			bad(key+".type", "must be miniprogram or oauth, got %q", a.Type)
		}
	}
	return errs
}

// Identity is what WeChat vouches for.
type Identity struct {
	AppID, OpenID, UnionID string
}

// Errors of an exchange.
var (
	// ErrInvalidCode: the code is wrong, used, expired or from another app → invalid_grant.
	ErrInvalidCode = errors.New("wechat: invalid or used code")
	// ErrUnavailable: WeChat is busy, rate-limiting or unreachable → 503.
	ErrUnavailable = errors.New("wechat: unavailable")
	// ErrMisconfigured: WeChat rejected our appid or secret → 503, and an operator must act.
	ErrMisconfigured = errors.New("wechat: application misconfigured")
	// ErrAppRequired: several apps are configured and the request named none.
	ErrAppRequired = errors.New("wechat: appid is required when several WeChat apps are configured")
	// ErrUnknownApp: the request named an appid that is not configured.
	ErrUnknownApp = errors.New("wechat: unknown appid")
)

// APIError is WeChat's errcode/errmsg.
type APIError struct {
	Code int
	Msg  string
}

func (e *APIError) Error() string { return fmt.Sprintf("wechat errcode %d: %s", e.Code, e.Msg) }

// classify maps WeChat's errcodes.
func classify(code int) error {
	switch code {
	case 40029, 40163, 40226, 41008: // invalid code, code been used, high-risk user blocked, missing code
		return ErrInvalidCode
	case 40013, 40125, 41002, 41004, 40001, 40164: // invalid appid, invalid secret, missing appid/secret, bad credential, IP not whitelisted
		return ErrMisconfigured
	default: // 45011 rate limit, -1 system busy, and whatever else WeChat invents
		return ErrUnavailable
	}
}

// Client talks to WeChat's API.
type Client struct {
	cfg    Config
	hc     *http.Client
	logger *slog.Logger
}

// New returns a client; secret files are read once here.
func New(cfg Config, hc *http.Client, logger *slog.Logger) (*Client, error) {
	cfg.SetDefaults()
	apps := make([]App, len(cfg.Apps))
	for i, a := range cfg.Apps {
		if a.SecretFile != "" {
			b, err := os.ReadFile(a.SecretFile)
			if err != nil {
				return nil, fmt.Errorf("wechat.apps[%d].secret_file: %w", i, err)
			}
			a.Secret = strings.TrimSpace(string(b))
		}
		apps[i] = a
	}
	cfg.Apps = apps
	if hc == nil {
		hc = &http.Client{}
	}
	hc.Timeout = cfg.Timeout
	return &Client{cfg: cfg, hc: hc, logger: logger}, nil
}

// App selects the app a request means: the named appid, or the only app when one is configured.
func (c *Client) App(appid string) (App, error) {
	if appid == "" {
		if len(c.cfg.Apps) == 1 {
			return c.cfg.Apps[0], nil
		}
		return App{}, ErrAppRequired
	}
	for _, a := range c.cfg.Apps {
		if a.AppID == appid {
			return a, nil
		}
	}
	return App{}, ErrUnknownApp
}

// Exchange trades a login code for the identity, with exactly one request: a retry could burn a
// code that WeChat already accepted.
func (c *Client) Exchange(ctx context.Context, app App, code string) (Identity, error) {
	ctx, span := tracing.Start(ctx, "wechat.exchange", attribute.String("wechat.appid", app.AppID), attribute.String("wechat.app_type", app.Type))
	id, err := c.exchange(ctx, app, code)
	tracing.End(span, err, ErrUnavailable, ErrMisconfigured)
	return id, err
}

func (c *Client) exchange(ctx context.Context, app App, code string) (Identity, error) {
	q := url.Values{"appid": {app.AppID}, "secret": {app.Secret}, "grant_type": {"authorization_code"}}
	path := "/sns/oauth2/access_token"
	if app.Type == "miniprogram" {
		path = "/sns/jscode2session"
		q.Set("js_code", code)
	} else {
		q.Set("code", code)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.cfg.APIBaseURL, "/")+path+"?"+q.Encode(), nil)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: build request", ErrUnavailable)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// *url.Error prints the URL, and the URL holds the secret: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Identity{}, fmt.Errorf("%w: app %s: %w", ErrUnavailable, app.ID, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return Identity{}, fmt.Errorf("%w: app %s: HTTP %d", ErrUnavailable, app.ID, resp.StatusCode)
	}
	// WeChat answers errors with HTTP 200 and often text/plain: the body decides, not the header.
	var body struct {
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
		OpenID  string `json:"openid"`
		UnionID string `json:"unionid"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return Identity{}, fmt.Errorf("%w: app %s: unreadable answer", ErrUnavailable, app.ID)
	}
	if body.ErrCode != nil && *body.ErrCode != 0 {
		apiErr := &APIError{Code: *body.ErrCode, Msg: body.ErrMsg}
		kind := classify(apiErr.Code)
		if errors.Is(kind, ErrMisconfigured) {
			c.logger.ErrorContext(ctx, "WeChat rejected lingpai's credentials for an app; check its appid and secret",
				"app", app.ID, "appid", app.AppID, "errcode", apiErr.Code, "errmsg", apiErr.Msg)
		}
		return Identity{}, fmt.Errorf("%w: app %s: %w", kind, app.ID, apiErr)
	}
	if body.OpenID == "" {
		return Identity{}, fmt.Errorf("%w: app %s: answer without openid", ErrUnavailable, app.ID)
	}
	return Identity{AppID: app.AppID, OpenID: body.OpenID, UnionID: body.UnionID}, nil
}
