package is4import

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lingpai/lingpai/storage"
)

// Origin tags the rows an import owns (client secrets, user claims), so a re-run replaces
// exactly those and leaves what was added in lingpai alone.
const Origin = "is4"

var errDryRun = errors.New("is4import: dry run: rolled back")

type importer struct {
	src   *source
	store *storage.Store
	opts  *Options
	out   io.Writer
}

// Run imports the source named by o into store and returns the report; progress lines go to out.
// Each kind is one transaction: a failure rolls that kind back and stops the run, leaving the
// kinds before it committed (a re-run picks up from there, idempotently). With DryRun every kind
// runs inside one transaction that is rolled back at the end, so later kinds see earlier ones
// exactly as a real run would.
func Run(ctx context.Context, o Options, store *storage.Store, out io.Writer) (Report, error) {
	if err := o.validate(); err != nil {
		return Report{}, err
	}
	if out == nil {
		out = io.Discard
	}
	store, err := store.Bulk()
	if err != nil {
		return Report{}, err
	}
	src, err := openSource(ctx, &o)
	if err != nil {
		return Report{}, err
	}
	defer src.close()
	if err := src.detect(ctx); err != nil {
		return Report{}, err
	}
	rep := Report{Version: src.version, DryRun: o.DryRun}
	fmt.Fprintf(out, "source: IdentityServer4 %s schema (%s)\n", src.version, o.SourceDriver)
	o.Logger.InfoContext(ctx, "is4 import started", "event", "is4import.started", "version", src.version, "dry_run", o.DryRun)
	im := &importer{src: src, store: store, opts: &o, out: out}
	all := func(ctx context.Context) error {
		rep.Kinds = nil // a retried dry run starts again
		for _, kind := range Kinds {
			if !o.wants(kind) {
				continue
			}
			kr := &KindReport{Kind: kind}
			start := time.Now()
			err := store.Transaction(ctx, func(ctx context.Context) error {
				*kr = KindReport{Kind: kind} // a retried transaction starts its count again
				return im.run(ctx, kind, kr)
			})
			kr.Duration = time.Since(start)
			if err != nil {
				return fmt.Errorf("is4import: %s (rolled back): %w", kind, err)
			}
			rep.Kinds = append(rep.Kinds, kr)
			o.Logger.InfoContext(ctx, "is4 import kind done", "event", "is4import.kind", "kind", kind,
				"read", kr.Read, "imported", kr.Imported, "updated", kr.Updated, "skipped", kr.Skipped)
		}
		if len(o.SigningKey) > 0 {
			kr := &KindReport{Kind: "signing-key"}
			start := time.Now()
			if err := store.Transaction(ctx, func(ctx context.Context) error {
				*kr = KindReport{Kind: "signing-key"}
				return im.importSigningKey(ctx, kr)
			}); err != nil {
				return err
			}
			kr.Duration = time.Since(start)
			rep.Kinds = append(rep.Kinds, kr)
		}
		if o.DryRun {
			return errDryRun
		}
		return nil
	}
	if o.DryRun {
		err = store.Transaction(ctx, all)
		if errors.Is(err, errDryRun) {
			err = nil
		}
	} else {
		err = all(ctx)
	}
	return rep, err
}

func (im *importer) run(ctx context.Context, kind string, kr *KindReport) error {
	switch kind {
	case "resources":
		return im.resources(ctx, kr)
	case "identity-resources":
		return im.identityResources(ctx, kr)
	case "clients":
		return im.clients(ctx, kr)
	case "users":
		return im.users(ctx, kr)
	case "grants":
		return im.refreshTokens(ctx, kr)
	case "consents":
		return im.consents(ctx, kr)
	}
	return fmt.Errorf("unknown kind %q", kind)
}
