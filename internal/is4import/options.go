// Package is4import copies an IdentityServer4 deployment into lingpai: clients and their secrets,
// API resources, ASP.NET Core Identity users (with their password hashes), WeChat logins, user
// consents and live refresh tokens. The source is only ever read; lingpai's database is written
// one kind per transaction, idempotently (a re-run updates, never duplicates), so the import can
// run once ahead of a cut-over and again for the delta.
package is4import

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
)

// Kinds in the order they are imported: clients before the grants that name them, users before
// the consents and refresh tokens that name them. identity-resources (claim sets) come with
// resources.
var Kinds = []string{"resources", "identity-resources", "clients", "users", "grants", "consents"}

// Options mirror the `lingpai import identityserver4` flags.
type Options struct {
	SourceDriver string // sqlite, mysql or postgres
	SourceDSN    string
	DryRun       bool     // run every step in transactions that are rolled back
	Only         []string // kinds to import; empty means all
	// TablePrefix is put before every IS4 table name (EF's table configuration); TableMap renames
	// single tables, keyed by IS4's default name, and wins over Preset and TablePrefix.
	TablePrefix string
	TableMap    map[string]string
	Preset      string // "skoruba": Users, Roles, UserRoles, UserClaims, UserLogins
	// WeChatProviders maps an AspNetUserLogins.LoginProvider to the WeChat identity its
	// ProviderKey is (see ParseWeChatProviders).
	WeChatProviders map[string]WeChatProvider
	// SigningKey is IS4's signing key file's content (JWK, tempkey.rsa, PEM or PKCS#12), imported
	// under its kid; SigningKeyActive makes lingpai sign with it, otherwise it only verifies.
	SigningKey         []byte
	SigningKeyPassword string
	// SigningKeyFile and SigningKeyPasswordFile name files to read SigningKey and its password
	// (PKCS#12) from, as the CLI flags do.
	SigningKeyFile, SigningKeyPasswordFile string
	SigningKeyKID                          string
	SigningKeyActive                       bool
	signingKey                             *jose.JSONWebKey // SigningKey parsed by validate, before anything is written
	// PhoneRegion reads phone numbers without a country code (sms.default_region).
	PhoneRegion string
	// Issuer is lingpai's issuer, for the <issuer>/resources audience.
	Issuer string
	// LegacyResourceAudience adds <issuer>/resources to every imported client's audience, as IS4
	// 4.x did with EmitLegacyResourceAudienceClaim (and 3.x always did: a v3 source implies it).
	LegacyResourceAudience bool
	// Progress is how often long kinds print a progress line; 0 means every 5 seconds.
	Progress time.Duration
	Logger   *slog.Logger
	Now      func() time.Time
}

// WeChatProvider says what an imported login's ProviderKey is.
type WeChatProvider struct {
	Kind  string // "oauth" (aspnet-contrib Weixin: the key is the unionid), "unionid", "openid", "miniprogram", "official"
	AppID string // the AppID an openid belongs to
}

// IsUnionID reports whether the provider's keys are unionids.
func (w WeChatProvider) IsUnionID() bool { return w.Kind == "oauth" || w.Kind == "unionid" }

func (o *Options) wants(kind string) bool {
	return len(o.Only) == 0 || slices.Contains(o.Only, kind) || (kind == "identity-resources" && slices.Contains(o.Only, "resources"))
}

func (o *Options) validate() error {
	for _, k := range o.Only {
		if !slices.Contains(Kinds, k) {
			return fmt.Errorf("is4import: --only: unknown kind %q (known: %s)", k, strings.Join(Kinds, ","))
		}
	}
	switch o.SourceDriver {
	case "sqlite", "mysql", "postgres":
	default:
		return fmt.Errorf("is4import: --source-driver: want sqlite, mysql or postgres, got %q", o.SourceDriver)
	}
	if o.SourceDSN == "" {
		return fmt.Errorf("is4import: --source-dsn is required")
	}
	if o.Preset != "" && o.Preset != "skoruba" {
		return fmt.Errorf("is4import: --preset: only skoruba is known, got %q", o.Preset)
	}
	if o.SigningKeyFile != "" {
		b, err := os.ReadFile(o.SigningKeyFile)
		if err != nil {
			return fmt.Errorf("is4import: --signing-key: %w", err)
		}
		o.SigningKey = b
	}
	if o.SigningKeyPasswordFile != "" {
		b, err := os.ReadFile(o.SigningKeyPasswordFile)
		if err != nil {
			return fmt.Errorf("is4import: --signing-key-password-file: %w", err)
		}
		o.SigningKeyPassword = strings.TrimRight(string(b), "\r\n")
	}
	if len(o.SigningKey) > 0 {
		// Parsed up front: a wrong password or an unreadable file stops the run before any kind
		// is written, with the file named.
		jwk, err := ParseSigningKey(o.SigningKey, o.SigningKeyPassword, o.SigningKeyKID)
		if err != nil {
			if o.SigningKeyFile != "" {
				return fmt.Errorf("--signing-key %s: %w", o.SigningKeyFile, err)
			}
			return err
		}
		o.signingKey = jwk
	}
	if o.PhoneRegion == "" {
		o.PhoneRegion = "CN"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == 0 {
		o.Progress = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// ParseTableMap reads "AspNetUsers=Users,Clients=OidcClients": default IS4 table name = the name
// in the source.
func ParseTableMap(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range splitList(s) {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("is4import: --table-map: want Default=Actual, got %q", p)
		}
		out[k] = v
	}
	return out, nil
}

// ParseWeChatProviders reads "Weixin=oauth:APPID,WeChat.MiniProgram=miniprogram:APPID".
func ParseWeChatProviders(s string) (map[string]WeChatProvider, error) {
	out := map[string]WeChatProvider{}
	for _, p := range splitList(s) {
		name, spec, ok := strings.Cut(p, "=")
		kind, appid, _ := strings.Cut(spec, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("is4import: --wechat-providers: want Provider=kind:APPID, got %q", p)
		}
		switch kind {
		case "oauth", "unionid":
		case "openid", "miniprogram", "official":
			if appid == "" {
				return nil, fmt.Errorf("is4import: --wechat-providers: %s keys are openids, which need the AppID (%s=%s:APPID)", name, name, kind)
			}
		default:
			return nil, fmt.Errorf("is4import: --wechat-providers: unknown kind %q (oauth, unionid, openid, miniprogram, official)", kind)
		}
		out[name] = WeChatProvider{Kind: kind, AppID: appid}
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
