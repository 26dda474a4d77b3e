package cli

import (
	"fmt"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/is4import"
	"github.com/lingpai/lingpai/storage"
)

// importIS4 is `lingpai import identityserver4`: flags in, is4import.Run out. No logic here.
func (e *env) importIS4(args []string) error {
	fs, cfgPath := e.flags("import identityserver4")
	driver := fs.String("source-driver", "", "IS4 database driver: sqlite, mysql or postgres (required)")
	dsn := fs.String("source-dsn", "", "IS4 database DSN, opened read-only (required)")
	dry := fs.Bool("dry-run", false, "print the report without writing")
	only := fs.String("only", "", "kinds to import: resources,identity-resources,clients,users,grants,consents (default all)")
	prefix := fs.String("table-prefix", "", "prefix of every IS4 table name")
	tableMap := fs.String("table-map", "", "renamed tables, e.g. AspNetUsers=Users,Clients=OidcClients")
	preset := fs.String("preset", "", "table naming preset: skoruba")
	wechat := fs.String("wechat-providers", "", "WeChat login providers, e.g. Weixin=oauth:APPID,WeChat.MiniProgram=miniprogram:APPID")
	var o is4import.Options
	fs.StringVar(&o.SigningKeyFile, "signing-key", "", "IS4 signing key: JWK (tempkey.jwk), tempkey.rsa, PEM or PKCS#12; keeps its kid")
	fs.StringVar(&o.SigningKeyPasswordFile, "signing-key-password-file", "", "file holding the PKCS#12 password")
	fs.StringVar(&o.SigningKeyKID, "signing-key-kid", "", "kid of a bare PEM key (what IS4's tokens carry)")
	fs.BoolVar(&o.LegacyResourceAudience, "legacy-resource-audience", false, "add <issuer>/resources to aud (IS4's EmitLegacyResourceAudienceClaim)")
	fs.BoolVar(&o.SigningKeyActive, "signing-key-active", false, "sign with the imported key (default: only verify and publish it)")
	check := func() error {
		if *driver == "" || *dsn == "" {
			return usageError("import identityserver4: --source-driver and --source-dsn are required")
		}
		var err error
		if o.TableMap, err = is4import.ParseTableMap(*tableMap); err != nil {
			return usageError("%v", err)
		}
		if o.WeChatProviders, err = is4import.ParseWeChatProviders(*wechat); err != nil {
			return usageError("%v", err)
		}
		o.SourceDriver, o.SourceDSN, o.DryRun, o.Only = *driver, *dsn, *dry, splitList(*only)
		o.TablePrefix, o.Preset = *prefix, *preset
		return nil
	}
	return e.withStore(fs, cfgPath, args, check, func(cfg *config.Config, st *storage.Store) error {
		if cfg.SMS != nil {
			o.PhoneRegion = cfg.SMS.DefaultRegion
		}
		o.Issuer, o.Logger = cfg.Server.Issuer, newLogger(e.stderr, cfg)
		rep, err := is4import.Run(e.ctx, o, st, e.stdout)
		if rep.Version != "" { // an empty report (bad options, unreadable source) says nothing
			rep.Print(e.stdout)
		}
		if err != nil {
			return fmt.Errorf("import stopped: %w", err)
		}
		return nil
	})
}
