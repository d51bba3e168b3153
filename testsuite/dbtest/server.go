package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Server is a private mariadbd process a test owns: its own datadir
// (t.TempDir), loopback TCP port, socket; killed and removed when the test
// ends. It is for fault tests: Kill and Restart exercise crash recovery,
// Freeze and Thaw make the server stop answering without closing anything.
//
// The shared server of TEST_MYSQL_DSN is never touched; a Server needs the
// MariaDB server binaries (mariadbd, mariadb-install-db) on the machine.
type Server struct {
	bin     string   // mariadbd
	args    []string // full command line after bin, port included
	port    int
	dir     string // datadir
	errLog  string // mariadbd's error log, also its stdout and stderr
	sockDir string // short directory for the socket and the pid file

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd has been waited for
	running bool
	frozen  bool
}

// readyTimeout bounds how long a start or restart may take to answer.
const readyTimeout = 30 * time.Second

// baseFlags keep a Server small and quick: a 16 MiB buffer pool, a 4 MiB
// redo log, no binary log, small MyISAM and Aria caches, no DNS lookups.
// The redo log size is also given to mariadb-install-db, so a copied datadir
// starts without resizing its log.
var baseFlags = []string{
	"--skip-log-bin",
	"--skip-name-resolve",
	"--innodb-buffer-pool-size=16M",
	"--innodb-log-file-size=4M",
	"--innodb-log-buffer-size=2M",
	"--key-buffer-size=1M",
	"--aria-pagecache-buffer-size=1M",
	"--query-cache-size=0",
}

// StartServer starts a private MariaDB server for t and waits until it
// answers; args are extra mariadbd flags, for example
// "--innodb-lock-wait-timeout=2". root has an empty password over TCP from
// 127.0.0.1. The server is killed, and its files removed, when t ends.
//
// Without a MariaDB installation (package mariadb-server) the test is
// skipped, and the skip recorded for make test's summary, unless a real
// server was asked for (TEST_MYSQL_DSN) or this is CI: there it fails.
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, installDB := mariadbBinaries(t)
	tpl, err := template(bin, installDB)
	if err != nil {
		t.Fatalf("dbtest: initialise a MariaDB datadir: %v", err)
	}

	// The datadir lives in t.TempDir. The socket path must stay under the
	// 108-byte limit of a unix socket address, which a TempDir named after
	// a long subtest can exceed, so the socket gets a short directory.
	dir := filepath.Join(t.TempDir(), "data")
	if err := copyTree(tpl, dir); err != nil {
		t.Fatalf("dbtest: copy the MariaDB datadir: %v", err)
	}
	sockDir, err := os.MkdirTemp("", "mariadb-")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{bin: bin, dir: dir, errLog: filepath.Join(filepath.Dir(dir), "error.log"), sockDir: sockDir}
	t.Cleanup(func() {
		s.stop()
		os.RemoveAll(sockDir)
	})

	// A free port is one the kernel just handed out and was closed again;
	// another process may take it before mariadbd binds it, so a start that
	// fails to bind tries again on a new port.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s.port = port
		s.args = s.commandLine(args)
		if lastErr = s.start(); lastErr == nil {
			return s
		}
		if !errors.Is(lastErr, errBind) {
			break
		}
	}
	t.Fatalf("dbtest: start mariadbd: %v", lastErr)
	return nil
}

// DSN is the go-sql-driver DSN of the server's root user, with no
// database: root@tcp(127.0.0.1:PORT)/.
func (s *Server) DSN() string {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	return cfg.FormatDSN()
}

// Port is the server's TCP port on 127.0.0.1; it stays the same across a
// Restart.
func (s *Server) Port() int { return s.port }

// NewDatabase creates an empty database on this server and returns a DSN
// for it. Nothing drops it: it goes with the server when the test ends.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	admin, err := sql.Open("mysql", s.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var suffix [6]byte
	rand.Read(suffix[:])
	name := fmt.Sprintf("test_%s_%s", sanitize(t.Name()), hex.EncodeToString(suffix[:]))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("dbtest: create database on the private server: %v", err)
	}
	cfg, err := mysql.ParseDSN(s.DSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = name
	return cfg.FormatDSN()
}

// Kill sends SIGKILL to the server, as a crash would, and waits for the
// process to be gone. Committed transactions survive: Restart recovers them.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		t.Fatal("dbtest: Kill: the server is not running")
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("dbtest: Kill: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("dbtest: Kill: mariadbd did not exit within 10s of SIGKILL")
	}
	s.running, s.frozen = false, false
}

// Freeze stops the server with SIGSTOP: the kernel still accepts TCP
// connections into the listen backlog, but nothing is answered, on new or
// open connections, until Thaw.
func (s *Server) Freeze(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		t.Fatal("dbtest: Freeze: the server is not running")
	}
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("dbtest: Freeze: %v", err)
	}
	s.frozen = true
	waitStopped(s.cmd.Process.Pid)
}

// Thaw resumes a frozen server with SIGCONT.
func (s *Server) Thaw(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		t.Fatal("dbtest: Thaw: the server is not running")
	}
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("dbtest: Thaw: %v", err)
	}
	s.frozen = false
}

// Restart starts a killed server again on the same datadir and the same
// port, and waits until it answers, InnoDB crash recovery included.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	if running {
		t.Fatal("dbtest: Restart: the server is running; Kill it first")
	}
	// The port is normally free again at once (mariadbd binds with
	// SO_REUSEADDR); if something else took it meanwhile, wait a little.
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = s.start(); err == nil || !errors.Is(err, errBind) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("dbtest: Restart: %v", err)
	}
}

// commandLine is mariadbd's full argument list for this server.
func (s *Server) commandLine(extra []string) []string {
	args := []string{
		"--no-defaults", // must come first: never read the host's my.cnf
		"--datadir=" + s.dir,
		"--bind-address=127.0.0.1",
		"--port=" + strconv.Itoa(s.port),
		"--socket=" + filepath.Join(s.sockDir, "mysqld.sock"),
		"--pid-file=" + filepath.Join(s.sockDir, "mysqld.pid"),
		"--log-error=" + s.errLog,
	}
	args = append(args, userFlag()...)
	args = append(args, baseFlags...)
	return append(args, extra...) // last, so they override the defaults
}

// errBind marks a start that failed because the port was taken.
var errBind = errors.New("port in use")

// start runs mariadbd and waits until it answers a ping.
func (s *Server) start() error {
	logf, err := os.OpenFile(s.errLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child holds its own copy
	offset, _ := logf.Seek(0, io.SeekEnd)

	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	setParentDeathSignal(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited, s.running, s.frozen = cmd, exited, true, false
	s.mu.Unlock()

	db, err := sql.Open("mysql", s.DSN()+"?timeout=1s&readTimeout=2s")
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		pingErr := db.PingContext(ctx)
		cancel()
		if pingErr == nil {
			return nil
		}
		select {
		case <-exited:
			s.mu.Lock()
			s.running = false
			s.mu.Unlock()
			log := s.logSince(offset)
			if strings.Contains(log, "Can't start server: Bind on TCP/IP port") ||
				strings.Contains(log, "Address already in use") {
				return fmt.Errorf("%w: 127.0.0.1:%d", errBind, s.port)
			}
			return fmt.Errorf("mariadbd exited before it answered (%s); its log:\n%s", cmd.ProcessState, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("mariadbd did not answer on 127.0.0.1:%d within %s (last error: %v); its log:\n%s",
				s.port, readyTimeout, pingErr, s.logSince(offset))
		}
	}
}

// stop kills the server if it runs, thawing it first if frozen.
func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return
	}
	if s.frozen {
		s.cmd.Process.Signal(syscall.SIGCONT)
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
	}
	s.running, s.frozen = false, false
}

// logSince returns what the error log gained after offset, at most its last
// 8 KiB.
func (s *Server) logSince(offset int64) string {
	b, err := os.ReadFile(s.errLog)
	if err != nil {
		return "(no error log: " + err.Error() + ")"
	}
	if offset < int64(len(b)) {
		b = b[offset:]
	}
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	return string(b)
}

// userFlag lets mariadbd run as root, which it otherwise refuses. Running it
// as mysql instead would need the datadir chowned and every directory above
// t.TempDir (created 0700 by root) opened to that user; a throwaway server
// on loopback gains nothing from that. Other users run it as themselves.
func userFlag() []string {
	if os.Geteuid() == 0 {
		return []string{"--user=root"}
	}
	return nil
}

// setParentDeathSignal asks Linux to SIGKILL mariadbd if the test binary
// dies without running its cleanups (a panic or a -timeout), so no server
// outlives its test. The field exists on Linux only; elsewhere it is left
// alone.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	if f := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig"); f.IsValid() && f.CanSet() {
		f.Set(reflect.ValueOf(syscall.SIGKILL))
	}
}

// waitStopped waits, briefly, until every thread of pid has stopped, so the
// caller of Freeze knows the server answers nothing from now on. Where
// /proc is missing it returns at once.
func waitStopped(pid int) {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return
		}
		stopped := true
		for _, task := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			if err != nil {
				continue
			}
			// The state follows the parenthesised command name.
			if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) && b[i+2] != 'T' && b[i+2] != 't' {
				stopped = false
				break
			}
		}
		if stopped {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mariadbBinaries finds mariadbd and mariadb-install-db, or skips or fails
// t saying what to install.
func mariadbBinaries(t testing.TB) (server, installDB string) {
	t.Helper()
	find := func(name string, dirs ...string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		for _, d := range dirs {
			if p := filepath.Join(d, name); isExecutable(p) {
				return p
			}
		}
		return ""
	}
	server = find("mariadbd", "/usr/sbin", "/usr/local/sbin", "/usr/local/bin")
	installDB = find("mariadb-install-db", "/usr/bin", "/usr/local/bin", "/usr/scripts")
	if server == "" || installDB == "" {
		skipOrFail(t, NeedsMariaDB, "it starts a private MariaDB server, and mariadbd or mariadb-install-db "+
			"is not installed (looked for on PATH and in /usr/sbin, /usr/bin; package mariadb-server)")
	}
	return server, installDB
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// installFlags are given to mariadb-install-db: root without a password,
// reachable over TCP from 127.0.0.1, and no test database.
var installFlags = []string{
	"--auth-root-authentication-method=normal",
	"--skip-test-db",
	"--skip-name-resolve",
	"--innodb-log-file-size=4M",
	"--innodb-buffer-pool-size=16M",
}

var templates struct {
	once sync.Once
	dir  string
	err  error
}

// template returns a freshly initialised datadir to copy. mariadb-install-db
// takes a second or two; its result depends only on the mariadbd binary and
// the flags, so it is kept in the user's cache directory under a name made
// of both and shared by every test binary and every run. It is built beside
// its final name and renamed into place, so a reader never sees half of it.
func template(bin, installDB string) (string, error) {
	templates.once.Do(func() {
		templates.dir, templates.err = buildTemplate(bin, installDB)
	})
	return templates.dir, templates.err
}

func buildTemplate(bin, installDB string) (string, error) {
	fi, err := os.Stat(bin)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintln(h, bin, fi.Size(), fi.ModTime().UnixNano(), os.Geteuid(), installFlags)
	key := hex.EncodeToString(h.Sum(nil))[:16]

	root, err := os.UserCacheDir()
	if err != nil {
		root = os.TempDir()
	}
	root = filepath.Join(root, "b2borders-dbtest")
	final := filepath.Join(root, "mariadb-datadir-"+key)
	if _, err := os.Stat(filepath.Join(final, "ibdata1")); err == nil {
		return final, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	work, err := os.MkdirTemp(root, "building-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	data := filepath.Join(work, "data")
	args := append([]string{"--no-defaults", "--datadir=" + data}, userFlag()...)
	args = append(args, installFlags...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, installDB, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: %v\n%s", installDB, err, out)
	}
	if err := os.Rename(data, final); err != nil {
		// Another test binary may have renamed its copy into place first.
		if _, statErr := os.Stat(filepath.Join(final, "ibdata1")); statErr == nil {
			return final, nil
		}
		return "", err
	}
	return final, nil
}

// copyTree copies the directory src to dst, which must not exist.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Mkdir(target, info.Mode().Perm())
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		return copyFile(path, target, info.Mode().Perm())
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
