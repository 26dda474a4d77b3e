package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// watchInterval is how often, with several DSNs, the servers before the one in use are checked
// (to fail back) and the one in use is checked (to fail over). A statement that finds its server
// unavailable triggers a check at once, so failover does not wait for the tick.
const watchInterval = time.Second

// pools holds one connection pool per DSN and which one is in use. With one DSN it is just that
// pool and nothing watches it.
type pools struct {
	all    []*gorm.DB
	labels []string // host:port of each DSN, for logs (never the password)
	cur    atomic.Int32

	mu      sync.Mutex // one failover check at a time
	healthy func(context.Context, *gorm.DB) error
	logger  *slog.Logger
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

func gormConfig(driver string, ping bool) *gorm.Config {
	return &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true, // single statements need no wrapping transaction
		// Prepared statements on the servers only. GORM's statement cache makes a goroutine wait
		// while another prepares the same SQL; with SQLite's single connection held by a
		// transaction whose next statement is that SQL, the preparer waits for the connection and
		// the transaction for the preparer: a deadlock (seen as sms code requests hanging for good
		// once a redemption raced a code request in lingpai-bench).
		PrepareStmt: driver != "sqlite",
		NowFunc:     func() time.Time { return time.Now().UTC() },
		// With several DSNs a server may be down at start; the failover check finds a live one.
		DisableAutomaticPing: !ping,
	}
}

// openPools opens a pool per DSN (opts.DSNs, or opts.DSN) and reports whether the servers are
// Galera nodes; on Galera every pool is reopened with galeraDSN (causal reads, text protocol).
func openPools(opts Options, classify func(context.Context, *gorm.DB, error) error) (*pools, bool, error) {
	dsns := opts.DSNs
	if len(dsns) == 0 {
		dsns = []string{opts.DSN}
	}
	if len(dsns) > 1 && opts.Driver == "sqlite" {
		return nil, false, errors.New("storage: database.dsns: sqlite is one file, not a list of servers")
	}
	multi := len(dsns) > 1
	p := &pools{}
	open := func(dsn string, galera bool) (*gorm.DB, error) {
		dial, err := dialector(opts.Driver, dsn, multi, opts.QueryTimeout)
		if err != nil {
			return nil, err
		}
		cfg := gormConfig(opts.Driver, !multi)
		// On Galera, statements go as text, never server-side prepared: see galeraDSN.
		cfg.PrepareStmt = cfg.PrepareStmt && !galera
		gdb, err := gorm.Open(dial, cfg)
		if err != nil {
			return nil, fmt.Errorf("storage: open %s: %w", opts.Driver, unavailable(err))
		}
		if err := boundQueries(gdb, opts.QueryTimeout); err != nil {
			return nil, fmt.Errorf("storage: query timeout: %w", err)
		}
		return gdb, nil
	}
	for _, dsn := range dsns {
		gdb, err := open(dsn, false)
		if err != nil {
			_ = p.close()
			return nil, false, err
		}
		p.all = append(p.all, gdb)
		p.labels = append(p.labels, dsnLabel(opts.Driver, dsn))
	}
	galera := false
	if opts.Driver == "mysql" {
		for _, gdb := range p.all {
			if on, known := wsrepOn(gdb); known {
				galera = on
				break
			}
		}
	}
	if galera {
		for i, dsn := range dsns {
			gdsn, err := galeraDSN(dsn)
			if err != nil {
				_ = p.close()
				return nil, false, err
			}
			if sqlDB, err := p.all[i].DB(); err == nil {
				_ = sqlDB.Close()
			}
			if p.all[i], err = open(gdsn, true); err != nil {
				_ = p.close()
				return nil, false, err
			}
		}
	}
	for _, gdb := range p.all {
		if err := configure(gdb, opts); err != nil {
			_ = p.close()
			return nil, false, err
		}
		if err := registerClassifier(gdb, classify); err != nil {
			_ = p.close()
			return nil, false, err
		}
	}
	return p, galera, nil
}

func configure(gdb *gorm.DB, opts Options) error {
	sqlDB, err := gdb.DB()
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if opts.Driver == "sqlite" {
		// SQLite has one writer; one connection serialises access instead of failing with SQLITE_BUSY.
		sqlDB.SetMaxOpenConns(1)
	} else {
		if opts.MaxOpenConns > 0 {
			sqlDB.SetMaxOpenConns(opts.MaxOpenConns)
		}
		if opts.MaxIdleConns > 0 {
			sqlDB.SetMaxIdleConns(opts.MaxIdleConns)
		}
	}
	if opts.ConnMaxLifetime > 0 {
		sqlDB.SetConnMaxLifetime(opts.ConnMaxLifetime)
	}
	return nil
}

// wsrepOn asks a MySQL-protocol server whether it is a Galera node; known is false when the
// server did not answer. MySQL and TiDB have no wsrep_on: that error means "not Galera".
func wsrepOn(gdb *gorm.DB) (on, known bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var v string
	err := gdb.WithContext(ctx).Raw("SELECT @@wsrep_on").Scan(&v).Error
	var me *mysqldrv.MySQLError
	switch {
	case err == nil:
		return v == "1" || strings.EqualFold(v, "ON"), true
	case errors.As(err, &me):
		return false, true
	}
	return false, false
}

// galeraDSN is a Galera node's DSN as lingpai uses it:
//   - wsrep_sync_wait=galeraSyncWait (causal reads) unless the DSN sets it;
//   - interpolateParams=true, with GORM's prepared-statement cache off: statements are sent as
//     text. Over the binary (prepared-statement) protocol, a transaction that a conflicting write
//     set from another node aborts (BF abort) while the client is between two statements can be
//     rolled back without the next statement reporting it: that statement and the ones after it
//     then run outside any transaction and COMMIT succeeds. Measured here (MariaDB 10.11, galera-4
//     26.4; storage/clustertest): 40 increments of one counter from two nodes, an upsert then a
//     read in one transaction, lost 4 of 480 increments over prepared statements and none as
//     text. Over text the abort is reported (1213) by the next statement and the whole
//     transaction is retried.
func galeraDSN(dsn string) (string, error) {
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("storage: database.dsn: %w", err)
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	if _, set := cfg.Params["wsrep_sync_wait"]; !set {
		cfg.Params["wsrep_sync_wait"] = galeraSyncWait
	}
	cfg.InterpolateParams = true
	return cfg.FormatDSN(), nil
}

// dsnLabel names a server for logs without its credentials.
func dsnLabel(driver, dsn string) string {
	switch driver {
	case "mysql":
		if cfg, err := mysqldrv.ParseDSN(dsn); err == nil {
			return cfg.Addr
		}
	case "postgres":
		if cfg, err := parsePostgres(dsn); err == nil {
			return fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
		}
	}
	return driver
}

func (p *pools) current() *gorm.DB { return p.all[p.cur.Load()] }

func (p *pools) multi() bool { return len(p.all) > 1 }

// start picks the first healthy server and, with several DSNs, watches them. It fails only when
// there are several DSNs and none is healthy (with one, Open already pinged it).
func (p *pools) start(healthy func(context.Context, *gorm.DB) error, log *slog.Logger) error {
	p.healthy, p.logger = healthy, log
	if !p.multi() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if p.failover(ctx) < 0 {
		return fmt.Errorf("%w: storage: none of database.dsns (%s) is healthy", ErrUnavailable, strings.Join(p.labels, ", "))
	}
	p.kick = make(chan struct{}, 1)
	p.stop = make(chan struct{})
	p.done = make(chan struct{})
	go p.watch()
	return nil
}

func (p *pools) watch() {
	defer close(p.done)
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		case <-p.kick:
		}
		ctx, cancel := context.WithTimeout(context.Background(), watchInterval)
		p.failover(ctx)
		cancel()
	}
}

// kickWatch asks for a health check now (without waiting for it).
func (p *pools) kickWatch() {
	if p.kick == nil {
		return
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// failover makes the first healthy server, in DSN order, the one in use, and returns its index;
// -1 (and no change) when none is healthy. Checking in order also fails back to an earlier
// server once it is healthy again.
func (p *pools) failover(ctx context.Context) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, db := range p.all {
		cctx, cancel := context.WithTimeout(ctx, watchInterval)
		err := p.healthy(cctx, db)
		cancel()
		if err != nil {
			continue
		}
		if old := int(p.cur.Swap(int32(i))); old != i && p.logger != nil {
			p.logger.Warn("database failover", "event", "database.failover", "from", p.labels[old], "to", p.labels[i])
		}
		return i
	}
	return -1
}

func (p *pools) close() error {
	if p.stop != nil {
		close(p.stop)
		<-p.done
		p.stop = nil
	}
	var errs []error
	for _, db := range p.all {
		if sqlDB, err := db.DB(); err == nil {
			errs = append(errs, sqlDB.Close())
		}
	}
	return errors.Join(errs...)
}
