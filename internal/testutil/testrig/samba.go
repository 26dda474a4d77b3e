package testrig

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Samba is a running Samba Active Directory domain controller (LDAP service only): real AD binds
// by UPN and DOMAIN\user, and real AD sub-codes (52e, 533, 701, 773, 775).
type Samba struct {
	IP, URL, LDAPSURL, CAFile string
	ServiceDN                 string
	dir                       string
	cmd                       *exec.Cmd
	t                         testing.TB
}

// Passwords of the Samba-only users.
const (
	ErinPass  = "Erin-Expired-2026"
	FrankPass = "Frank-Change-2026"
	adminPass = "Admin-Pass-2026!"
	template  = "/tmp/lingpai-rig-samba-template"
)

func flock(t testing.TB, path string) func() {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); _ = f.Close() }
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// provision makes the template domain once per machine (about 20 s), under a lock so parallel
// test binaries share it.
func provision(t testing.TB) {
	unlock := flock(t, "/tmp/lingpai-rig-samba.lock")
	defer unlock()
	if _, err := os.Stat(filepath.Join(template, "ready")); err == nil {
		return
	}
	_ = os.RemoveAll(template)
	run(t, "samba-tool", "domain", "provision", "--realm=CORP.EXAMPLE", "--domain="+Domain, "--server-role=dc",
		"--dns-backend=NONE", "--adminpass="+adminPass, "--targetdir="+template, "--host-name=dc1", "--host-ip=127.0.0.1",
		"--option=interfaces=127.0.0.1", "--option=bind interfaces only=yes")
	conf := filepath.Join(template, "etc", "smb.conf")
	raw, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf("\tserver services = ldap\n\tldap server require strong auth = no\n\tpid directory = %[1]s/run\n"+
		"\tncalrpc dir = %[1]s/run/ncalrpc\n\twinbindd socket directory = %[1]s/run/winbindd\n\tlog file = %[1]s/log.samba\n"+
		"\ttls enabled = yes\n\ttls keyfile = %[1]s/tls/server.key\n\ttls certfile = %[1]s/tls/server.pem\n\ttls cafile = %[1]s/tls/ca.pem\n", template)
	s := strings.Replace(string(raw), "[global]\n", "[global]\n"+extra, 1)
	if err := os.WriteFile(conf, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	c := "-s" + conf
	run(t, "samba-tool", "domain", "passwordsettings", "set", c, "--max-pwd-age=0", "--min-pwd-age=0", "--complexity=off")
	user := func(name, pass string, extra ...string) {
		run(t, "samba-tool", append([]string{"user", "add", name, pass, c}, extra...)...)
	}
	user("alice", AlicePass, "--given-name=Alice", "--surname=Liddell", "--mail-address=alice@corp.example", "--telephone-number=+86 138 0013 8000")
	user("bob", BobPass, "--given-name=Bob", "--surname=Builder")
	user("carol", CarolPass, "--given-name=Carol", "--surname=Disabled")
	user("dave", DavePass, "--given-name=Dave", "--surname=Nogroup")
	user("erin", ErinPass, "--given-name=Erin", "--surname=Expired")
	user("frank", FrankPass, "--given-name=Frank", "--surname=Change", "--must-change-at-next-login")
	user(ServiceUser, ServicePass)
	run(t, "samba-tool", "user", "disable", "carol", c)
	run(t, "samba-tool", "user", "setexpiry", "erin", "--days=0", c)
	run(t, "samba-tool", "group", "add", "lingpai-users", c)
	run(t, "samba-tool", "group", "add", "lingpai-admins", c)
	run(t, "samba-tool", "group", "addmembers", "lingpai-users", "alice,bob", c)
	run(t, "samba-tool", "group", "addmembers", "lingpai-admins", "bob", c)
	if err := os.WriteFile(filepath.Join(template, "ready"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// StartSamba starts a DC on its own loopback address (Samba's LDAP ports cannot be changed, so
// parallel instances are kept apart by address).
func StartSamba(t testing.TB) *Samba {
	t.Helper()
	if _, err := exec.LookPath("samba"); err != nil {
		t.Skip(skipPrefix + "samba is not installed (apt-get install samba samba-ad-dc samba-ad-provision samba-dsdb-modules winbind)")
	}
	if _, err := exec.LookPath("samba-tool"); err != nil {
		t.Skip(skipPrefix + "samba-tool is not installed")
	}
	provision(t)
	dir, err := os.MkdirTemp("", "lingpai-rig-samba-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	run(t, "cp", "-a", template+"/.", dir)
	// Hold the address lock until samba listens, so parallel tests cannot pick the same address.
	unlock := flock(t, "/tmp/lingpai-rig-samba-ip.lock")
	defer unlock()
	ip := pickIP(t)
	_ = os.MkdirAll(filepath.Join(dir, "tls"), 0o700)
	ca, _, _ := writeCerts(t, filepath.Join(dir, "tls"), []string{ip}, []string{"dc1.corp.example", "localhost"})
	conf := filepath.Join(dir, "etc", "smb.conf")
	raw, _ := os.ReadFile(conf)
	s2 := strings.ReplaceAll(string(raw), template, dir)
	s2 = strings.ReplaceAll(s2, "interfaces = 127.0.0.1", "interfaces = "+ip)
	if err := os.WriteFile(conf, []byte(s2), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.MkdirAll(filepath.Join(dir, "run", "ncalrpc"), 0o755)
	sm := &Samba{IP: ip, URL: "ldap://" + ip + ":389", LDAPSURL: "ldaps://" + ip + ":636", CAFile: ca,
		ServiceDN: "CN=" + ServiceUser + "," + UsersDN, dir: dir, t: t}
	sm.Start()
	t.Cleanup(sm.Stop)
	return sm
}

// pickIP adds (once) and returns a loopback alias 127.0.0.N whose LDAP port is free; the caller
// holds the address lock.
func pickIP(t testing.TB) string {
	for n := 2; n < 250; n++ {
		ip := fmt.Sprintf("127.0.0.%d", n)
		if c, err := net.DialTimeout("tcp", ip+":389", 100*time.Millisecond); err == nil {
			c.Close()
			continue
		}
		if out, err := exec.Command("ip", "addr", "add", ip+"/32", "dev", "lo").CombinedOutput(); err != nil && !strings.Contains(string(out), "File exists") && !strings.Contains(string(out), "already assigned") {
			t.Skip(skipPrefix + "cannot add a loopback address: " + string(out))
		}
		return ip
	}
	t.Fatal("no free loopback address for samba")
	return ""
}

// Start starts (or restarts) the DC.
func (sm *Samba) Start() {
	sm.t.Helper()
	cmd := exec.Command("samba", "-F", "-M", "single", "-s", filepath.Join(sm.dir, "etc", "smb.conf"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, _ := os.Create(filepath.Join(sm.dir, "samba.out"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		sm.t.Fatalf("samba: %v", err)
	}
	sm.cmd = cmd
	if !waitPort(sm.IP+":389", 20*time.Second) {
		log, _ := os.ReadFile(filepath.Join(sm.dir, "samba.out"))
		sm.t.Fatalf("samba did not start:\n%s", log)
	}
}

// Stop stops the DC.
func (sm *Samba) Stop() {
	if sm.cmd == nil || sm.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-sm.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = sm.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-sm.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	sm.cmd = nil
}

// SetLockoutThreshold turns on account lockout after n bad passwords, while the DC runs.
func (sm *Samba) SetLockoutThreshold(n int) {
	run(sm.t, "samba-tool", "domain", "passwordsettings", "set", "-s"+filepath.Join(sm.dir, "etc", "smb.conf"),
		fmt.Sprintf("--account-lockout-threshold=%d", n))
}
