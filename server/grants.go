package server

import (
	"log/slog"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/grants"
	"github.com/lingpai/lingpai/storage"
)

// builtinGrants returns lingpai's own custom grants (password_ad, sms, wechat) whose configuration
// sections are present. Each is one line here.
func builtinGrants(cfg *config.Config, store *storage.Store, logger *slog.Logger) []grants.Grant {
	return nil
}
