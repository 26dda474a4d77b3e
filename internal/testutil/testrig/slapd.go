package testrig

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Skip prefix: CI fails a run in which any test skipped.
const skipPrefix = "LDAP RIG UNAVAILABLE: "

// The directory every rig serves: AD's layout, so one set of lingpai settings fits both.
const (
	BaseDN       = "DC=corp,DC=example"
	UsersDN      = "CN=Users,DC=corp,DC=example"
	Domain       = "CORP"
	UPNSuffix    = "corp.example"
	ServiceUser  = "svc-lingpai"
	ServicePass  = "Svc-Pass-2026!"
	AlicePass    = "Wonderland-2026"
	BobPass      = "Builder-Bob-2026"
	DavePass     = "Dave-Pass-2026"
	CarolPass    = "Carol-Pass-2026"
	slapdRootDN  = "CN=admin,DC=corp,DC=example"
	slapdRootPwd = "Admin-Pass-2026"
)

// Slapd is a running OpenLDAP with an AD-like schema.
type Slapd struct {
	URL, LDAPSURL, CAFile string
	ServiceDN             string
	dir, conf             string
	cmd                   *exec.Cmd
	t                     testing.TB
}

// The AD attributes and classes, with AD's OIDs, so filters written for AD work unchanged.
const adSchema = `attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.159 NAME 'accountExpires' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.782 NAME 'objectCategory' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.2.840.113556.1.5.9 NAME 'user' SUP inetOrgPerson STRUCTURAL MAY ( sAMAccountName $ userPrincipalName $ userAccountControl $ accountExpires $ objectCategory ) )
objectclass ( 1.2.840.113556.1.5.8 NAME 'group' SUP top STRUCTURAL MUST cn MAY ( member $ sAMAccountName $ description ) )
objectclass ( 1.2.840.113556.1.3.23 NAME 'container' SUP top STRUCTURAL MUST cn )
`

// StartSlapd starts a private slapd seeded with alice, bob, carol (disabled), dave and svc-lingpai.
func StartSlapd(t testing.TB) *Slapd {
	t.Helper()
	bin, err := exec.LookPath("slapd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/slapd"); serr != nil {
			t.Skip(skipPrefix + "slapd is not installed (apt-get install slapd)")
		}
		bin = "/usr/sbin/slapd"
	}
	dir, err := os.MkdirTemp("", "lingpai-rig-slapd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	ca, cert, key := writeCerts(t, dir, []string{"127.0.0.1"}, []string{"localhost"})
	if err := os.WriteFile(filepath.Join(dir, "lingpai-ad.schema"), []byte(adSchema), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include %[1]s/lingpai-ad.schema
pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
moduleload refint
TLSCACertificateFile %[2]s
TLSCertificateFile %[3]s
TLSCertificateKeyFile %[4]s
database mdb
maxsize 67108864
suffix "%[5]s"
rootdn "%[6]s"
rootpw %[7]s
directory %[1]s/data
# AD's rules: a disabled account (userAccountControl bit 0x2) cannot bind; anonymous users may
# only bind and read the root DSE; any bound user may read the directory.
access to attrs=userPassword filter=(userAccountControl:1.2.840.113556.1.4.803:=2) by * none
access to attrs=userPassword by anonymous auth by self write by * none
access to dn.base="" by * read
access to * by users read by anonymous none
overlay memberof
memberof-group-oc group
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE
overlay refint
refint_attributes member
`, dir, ca, cert, key, BaseDN, slapdRootDN, slapdRootPwd)
	s := &Slapd{dir: dir, conf: filepath.Join(dir, "slapd.conf"), CAFile: ca, t: t}
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	port, tlsPort := freePort(t), freePort(t)
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", port)
	s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", tlsPort)
	s.ServiceDN = "CN=" + ServiceUser + "," + UsersDN
	s.cmdPath(bin)
	s.Start()
	t.Cleanup(s.Stop)
	s.seed()
	return s
}

func (s *Slapd) cmdPath(bin string) { s.cmd = &exec.Cmd{Path: bin} }

// Start starts (or restarts) slapd on its ports and data.
func (s *Slapd) Start() {
	s.t.Helper()
	cmd := exec.Command(s.cmd.Path, "-d", "0", "-f", s.conf, "-h", s.URL+"/ "+s.LDAPSURL+"/")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, _ := os.Create(filepath.Join(s.dir, "slapd.log"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("slapd: %v", err)
	}
	s.cmd = cmd
	if !waitPort(strings.TrimPrefix(s.URL, "ldap://"), 10*time.Second) {
		log, _ := os.ReadFile(filepath.Join(s.dir, "slapd.log"))
		s.t.Fatalf("slapd did not start:\n%s", log)
	}
}

// Freeze stops slapd with SIGSTOP: its ports still accept connections (the kernel does), but
// nothing answers, as with a hung directory server. Thaw resumes it; the test's cleanup does too.
func (s *Slapd) Freeze() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatal(err)
	}
	p := s.cmd.Process
	s.t.Cleanup(func() { _ = p.Signal(syscall.SIGCONT) })
}

// Thaw resumes a frozen slapd.
func (s *Slapd) Thaw() { _ = s.cmd.Process.Signal(syscall.SIGCONT) }

// Stop stops slapd and waits until its port is closed.
func (s *Slapd) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = &exec.Cmd{Path: s.cmd.Path}
}

// Admin returns a connection bound as the directory's root.
func (s *Slapd) Admin() *ldap.Conn {
	s.t.Helper()
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := c.Bind(slapdRootDN, slapdRootPwd); err != nil {
		s.t.Fatal(err)
	}
	return c
}

func (s *Slapd) seed() {
	c := s.Admin()
	defer c.Close()
	add := func(dn string, attrs map[string][]string) {
		r := ldap.NewAddRequest(dn, nil)
		for k, v := range attrs {
			r.Attribute(k, v)
		}
		if err := c.Add(r); err != nil {
			s.t.Fatalf("seed %s: %v", dn, err)
		}
	}
	add(BaseDN, map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"corp"}, "o": {"Corp"}})
	add(UsersDN, map[string][]string{"objectClass": {"container"}, "cn": {"Users"}})
	user := func(cn, sam, pass, uac string, extra map[string][]string) {
		attrs := map[string][]string{"objectClass": {"user"}, "cn": {cn}, "sn": {cn}, "sAMAccountName": {sam},
			"userPrincipalName": {sam + "@" + UPNSuffix}, "userAccountControl": {uac}, "objectCategory": {"person"},
			"userPassword": {pass}, "displayName": {cn}, "mail": {sam + "@" + UPNSuffix}}
		for k, v := range extra {
			attrs[k] = v
		}
		add("CN="+cn+","+UsersDN, attrs)
	}
	user("Alice Liddell", "alice", AlicePass, "512", map[string][]string{"telephoneNumber": {"+86 138 0013 8000"}})
	user("Bob Builder", "bob", BobPass, "512", nil)
	user("Carol Disabled", "carol", CarolPass, "514", nil)
	user("Dave Nogroup", "dave", DavePass, "512", nil)
	user(ServiceUser, ServiceUser, ServicePass, "512", nil)
	add("CN=lingpai-users,"+UsersDN, map[string][]string{"objectClass": {"group"}, "cn": {"lingpai-users"},
		"member": {"CN=Alice Liddell," + UsersDN, "CN=Bob Builder," + UsersDN}})
	add("CN=lingpai-admins,"+UsersDN, map[string][]string{"objectClass": {"group"}, "cn": {"lingpai-admins"},
		"member": {"CN=Bob Builder," + UsersDN}})
}

// Disable sets bit 0x2 of a user's userAccountControl, as AD does.
func (s *Slapd) Disable(cn string) {
	c := s.Admin()
	defer c.Close()
	m := ldap.NewModifyRequest("CN="+cn+","+UsersDN, nil)
	m.Replace("userAccountControl", []string{"514"})
	if err := c.Modify(m); err != nil {
		s.t.Fatal(err)
	}
}

// Rename changes a user's CN and sAMAccountName (a rename in AD keeps the object's GUID).
func (s *Slapd) Rename(cn, newCN, newSAM string) {
	c := s.Admin()
	defer c.Close()
	if err := c.ModifyDN(ldap.NewModifyDNRequest("CN="+cn+","+UsersDN, "CN="+newCN, true, "")); err != nil {
		s.t.Fatal(err)
	}
	m := ldap.NewModifyRequest("CN="+newCN+","+UsersDN, nil)
	m.Replace("sAMAccountName", []string{newSAM})
	m.Replace("userPrincipalName", []string{newSAM + "@" + UPNSuffix})
	if err := c.Modify(m); err != nil {
		s.t.Fatal(err)
	}
}
