package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/grants"
	"github.com/lingpai/lingpai/grants/passwordad"
	smsgrant "github.com/lingpai/lingpai/grants/sms"
	wechatgrant "github.com/lingpai/lingpai/grants/wechat"
	"github.com/lingpai/lingpai/internal/ops/metrics"
	"github.com/lingpai/lingpai/internal/phone"
	"github.com/lingpai/lingpai/internal/smscode"
	"github.com/lingpai/lingpai/internal/upstream/ldapdir"
	"github.com/lingpai/lingpai/internal/upstream/smsgw"
	"github.com/lingpai/lingpai/internal/upstream/wechat"
)

// builtinTypes are lingpai's own extension grants; each needs its configuration section.
var builtinTypes = []string{"password_ad", "sms", "wechat"}

// builtins is what the enabled built-in grants add to the server.
type builtins struct {
	grants    []grants.Grant
	sms       *smsEndpoint
	directory passwordad.Directory // also signs people in on the browser login page
}

type smsEndpoint struct {
	codes        *smscode.Service
	normalize    func(string) (string, error)
	autoRegister bool
}

// builtinGrants builds lingpai's own custom grants that grants.enabled lists. Each is one
// registration here.
func (b *builder) builtinGrants(ctx context.Context, d *parts) (builtins, error) {
	cfg, store, accts, met, logger := d.cfg, d.store, d.accounts, d.metrics, d.logger
	var out builtins
	if cfg.GrantEnabled("sms") && cfg.SMS != nil {
		sender, err := smsgw.New(cfg.SMS.Config, logger)
		if err != nil {
			return out, fmt.Errorf("config: sms: %w", err)
		}
		key, err := store.Secret(ctx, "sms-code-key", 32)
		if err != nil {
			return out, fmt.Errorf("server: sms code key: %w", err)
		}
		now := b.now
		if now == nil {
			now = time.Now
		}
		codes := smscode.New(store, observedSender{sender, met}, key, smscode.Options{
			CodeLength: cfg.SMS.CodeLength, TTL: cfg.SMS.TTL, MaxAttempts: cfg.SMS.MaxAttempts, ResendInterval: cfg.SMS.ResendInterval,
			HourlyLimit: cfg.SMS.HourlyLimit, DailyLimit: cfg.SMS.DailyLimit, IPHourlyLimit: cfg.SMS.IPHourlyLimit, DailyBudget: cfg.SMS.DailyBudget,
		}, now, logger)
		region := cfg.SMS.DefaultRegion
		normalize := func(raw string) (string, error) { return phone.Normalize(raw, region) }
		out.sms = &smsEndpoint{codes: codes, normalize: normalize, autoRegister: cfg.SMS.AutoRegister}
		out.grants = append(out.grants, &smsgrant.Grant{Codes: codes, Accounts: accts, Normalize: normalize, AutoRegister: cfg.SMS.AutoRegister})
	}
	if cfg.GrantEnabled("wechat") && cfg.WeChat != nil {
		client, err := wechat.New(*cfg.WeChat, nil, logger)
		if err != nil {
			return out, fmt.Errorf("config: %w", err)
		}
		out.grants = append(out.grants, &wechatgrant.Grant{WeChat: observedWeChat{client, met}, Accounts: accts, AutoRegister: *cfg.WeChat.AutoRegister})
	}
	if cfg.GrantEnabled("password_ad") && cfg.LDAP != nil {
		dir, err := ldapdir.New(*cfg.LDAP, logger)
		if err != nil {
			return out, fmt.Errorf("config: %w", err)
		}
		out.directory = observedDirectory{dir, met}
		out.grants = append(out.grants, &passwordad.Grant{Directory: out.directory, Accounts: accts, Logger: logger, PhoneRegion: phoneRegion(cfg)})
	}
	return out, nil
}

// The observed* decorators report upstream latency and outages to metrics. Only "the service was
// down or broken" counts as an error; a wrong password or a vendor's volume refusal does not.

type observedDirectory struct {
	passwordad.Directory
	m *metrics.Metrics
}

func (o observedDirectory) Authenticate(ctx context.Context, username, password string) (ldapdir.Entry, error) {
	start := time.Now()
	e, err := o.Directory.Authenticate(ctx, username, password)
	o.m.ObserveUpstream("ldap", "authenticate", start, outage(err, ldapdir.ErrUnavailable))
	return e, err
}

func (o observedDirectory) Lookup(ctx context.Context, id string) (ldapdir.Entry, error) {
	start := time.Now()
	e, err := o.Directory.Lookup(ctx, id)
	o.m.ObserveUpstream("ldap", "lookup", start, outage(err, ldapdir.ErrUnavailable))
	return e, err
}

type observedSender struct {
	smscode.Sender
	m *metrics.Metrics
}

func (o observedSender) Send(ctx context.Context, phone, code string, ttl time.Duration) error {
	start := time.Now()
	err := o.Sender.Send(ctx, phone, code, ttl)
	if errors.Is(err, smscode.ErrGatewayLimited) {
		o.m.ObserveUpstream("sms", "send", start, nil)
	} else {
		o.m.ObserveUpstream("sms", "send", start, err)
	}
	return err
}

type observedWeChat struct {
	*wechat.Client
	m *metrics.Metrics
}

func (o observedWeChat) Exchange(ctx context.Context, app wechat.App, code string) (wechat.Identity, error) {
	start := time.Now()
	id, err := o.Client.Exchange(ctx, app, code)
	o.m.ObserveUpstream("wechat", "exchange", start, outage(err, wechat.ErrUnavailable, wechat.ErrMisconfigured))
	return id, err
}

// outage keeps err only when it is one of the upstream-down kinds.
func outage(err error, kinds ...error) error {
	for _, k := range kinds {
		if errors.Is(err, k) {
			return err
		}
	}
	return nil
}

// phoneRegion reads directory phone numbers written without a country code: sms.default_region
// when the sms grant is configured, CN otherwise.
func phoneRegion(cfg *config.Config) string {
	if cfg.SMS != nil && cfg.SMS.DefaultRegion != "" {
		return cfg.SMS.DefaultRegion
	}
	return "CN"
}
