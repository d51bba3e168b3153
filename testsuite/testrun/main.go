// Command testrun is how make test runs the tests: it picks the database,
// starts the dev stack's embedded engine when that is the one, runs
// `go test` on it and ends with what ran where.
//
// The database is, in this order: TEST_MYSQL_DSN when it is set (it must
// answer within a second, or the run stops at once); mysql:8.4
// containers from testcontainers-go when a Docker engine answers; else the
// embedded engine (go-mysql-server, as `devstack -engine` serves it),
// started for the run. On the embedded engine the tests that need InnoDB
// are skipped (dbtest.RequireInnoDB, dbtest.StartServer without MariaDB
// installed); the last lines name every one of them.
//
//	testrun -database                 print the database the run would use
//	testrun [-again PKGS] PKGS        run PKGS on it; after a real server,
//	                                  run PKGS of -again on the embedded engine too
//	testrun -engine PKGS              run PKGS on the embedded engine
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/b2borders/platform/testsuite/dbtest"
)

// prefix starts every line of the runner's own.
var prefix = "make test: "

func main() {
	onlyDatabase := flag.Bool("database", false, "print which database the tests would use, and exit")
	engineOnly := flag.Bool("engine", false, "run on the dev stack's embedded engine, whatever else there is")
	again := flag.String("again", "", "space-separated packages to run again on the embedded engine after a run on a real server")
	timeout := flag.String("timeout", "15m", "go test -timeout")
	name := flag.String("name", "make test", "what the runner's own lines start with")
	flag.Parse()
	prefix = *name + ": "
	os.Exit(run(*onlyDatabase, *engineOnly, strings.Fields(*again), *timeout, flag.Args()))
}

// database is where a run's tests go.
type database struct {
	kind   string // "dsn", "docker", "engine"
	server dbtest.ServerInfo
	why    string
}

func (d database) String() string {
	switch d.kind {
	case "dsn":
		return d.server.String() + " (" + dbtest.EnvDSN + ")"
	case "docker":
		return "mysql:8.4 containers from testcontainers-go, one per test package (" + d.why + ")"
	default:
		return "the dev stack's embedded engine (go-mysql-server), started for this run (" + d.why + ")"
	}
}

func choose(engineOnly bool) (database, error) {
	ctx := context.Background()
	if engineOnly {
		return database{kind: "engine", why: "as asked"}, nil
	}
	if raw := os.Getenv(dbtest.EnvDSN); raw != "" {
		srv, _, err := dbtest.Check(ctx, raw)
		if err != nil {
			return database{}, fmt.Errorf("%s: %w. Fix the variable or start its server, or unset it to test on Docker or the embedded engine", dbtest.EnvDSN, err)
		}
		return database{kind: "dsn", server: srv}, nil
	}
	probe, cancel := context.WithTimeout(ctx, dbtest.AnswerTimeout)
	defer cancel()
	dockerErr := dbtest.DockerAnswers(probe)
	if dockerErr == nil {
		return database{kind: "docker", why: dbtest.EnvDSN + " is unset and a Docker engine answers"}, nil
	}
	if ci := strings.ToLower(os.Getenv("CI")); ci != "" && ci != "false" && ci != "0" {
		return database{}, fmt.Errorf("CI is set but %s is not, and no Docker engine answers: CI must test on a real server", dbtest.EnvDSN)
	}
	return database{kind: "engine", why: dbtest.EnvDSN + " is unset and no Docker engine answers"}, nil
}

func run(onlyDatabase, engineOnly bool, again []string, timeout string, pkgs []string) int {
	began := time.Now()
	db, err := choose(engineOnly)
	if err != nil {
		say("%v", err)
		return 2
	}
	say("database: %s", db)
	if onlyDatabase {
		return 0
	}
	if len(pkgs) == 0 {
		say("no packages to test")
		return 2
	}

	skipDir, err := os.MkdirTemp("", "testrun-skips-")
	if err != nil {
		say("%v", err)
		return 1
	}
	defer os.RemoveAll(skipDir)

	args := []string{"test", "-count=1", "-timeout", timeout}
	if race, why := raceWorks(); race {
		args = append(args, "-race")
	} else {
		// Without a C compiler nothing that needs cgo builds: build
		// everything, the engine included, without it.
		say("no -race: %s", why)
		os.Setenv("CGO_ENABLED", "0")
	}

	var eng *engine
	defer func() {
		if eng != nil {
			eng.stop()
		}
	}()
	stopOnSignal(func() {
		if eng != nil {
			eng.stop()
		}
	})
	startEngine := func() bool {
		if eng != nil {
			return true
		}
		if eng, err = newEngine(); err != nil {
			say("start the embedded engine: %v", err)
			return false
		}
		return true
	}

	env := withoutEnv(os.Environ(), dbtest.EnvEngineDSN, dbtest.EnvSkipDir)
	env = append(env, dbtest.EnvSkipDir+"="+skipDir)
	if db.kind == "engine" {
		if !startEngine() {
			return 1
		}
		db.server = eng.server
		env = append(withoutEnv(env, dbtest.EnvDSN), dbtest.EnvEngineDSN+"="+eng.dsn)
	}
	first := goTest(env, slices.Concat(args, pkgs))

	var second *result
	if len(again) > 0 && db.kind != "engine" {
		if !startEngine() {
			return 1
		}
		env := append(withoutEnv(env, dbtest.EnvDSN), dbtest.EnvEngineDSN+"="+eng.dsn)
		r := goTest(env, slices.Concat(args, again))
		second = &r
	}

	skipped, err := dbtest.ReadSkipped(skipDir)
	if err != nil {
		say("read the skipped tests: %v", err)
		return 1
	}

	// What ran where, last, so that it is what a run ends with.
	fmt.Println()
	where := db.String()
	if db.kind == "engine" {
		where = eng.server.String() + ", started for this run (" + db.why + ")"
	}
	say("%s on %s; %s", first, where, since(began))
	if second != nil {
		say("%s again on %s", *second, eng.server)
	}
	byNeed := map[dbtest.Need][]string{}
	for _, s := range skipped {
		byNeed[s.Needs] = append(byNeed[s.Needs], s.String())
	}
	if names := byNeed[dbtest.NeedsServer]; len(names) > 0 {
		say("%s need a real MySQL server: %s; set %s to run them", count(len(names), "test"), strings.Join(names, ", "), dbtest.EnvDSN)
	}
	if names := byNeed[dbtest.NeedsMariaDB]; len(names) > 0 {
		say("%s need MariaDB installed, for a private server of their own: %s; install mariadb-server to run them",
			count(len(names), "test"), strings.Join(names, ", "))
	}
	if len(skipped) == 0 {
		say("no test was skipped for want of a real server or of MariaDB")
	}
	if !first.ok() || (second != nil && !second.ok()) {
		return 1
	}
	return 0
}

// result is what one `go test` reported.
type result struct {
	passed, noTests int
	failed          []string
	err             error
}

func (r result) ok() bool { return r.err == nil && len(r.failed) == 0 }

func (r result) String() string {
	s := count(r.passed, "package") + " ok"
	if len(r.failed) > 0 {
		s += ", " + count(len(r.failed), "package") + " FAILED (" + strings.Join(r.failed, ", ") + ")"
	} else if r.err != nil {
		s += ", go test FAILED (" + r.err.Error() + ")"
	}
	return s
}

// goTest runs the go command with args, passing its output through and
// counting the packages it reports.
func goTest(env, args []string) result {
	cmd := exec.Command("go", args...)
	cmd.Env, cmd.Stderr = env, os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return result{err: err}
	}
	if err := cmd.Start(); err != nil {
		return result{err: err}
	}
	var r result
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Println(line)
		f := strings.Split(line, "\t")
		switch {
		case len(f) >= 2 && f[0] == "ok  ":
			r.passed++
		case len(f) >= 2 && f[0] == "FAIL":
			r.failed = append(r.failed, strings.TrimPrefix(f[1], "github.com/b2borders/platform/"))
		case len(f) >= 3 && f[0] == "?   " && strings.Contains(f[2], "no test files"):
			r.noTests++
		}
	}
	io.Copy(io.Discard, out)
	r.err = cmd.Wait()
	return r
}

// raceWorks reports whether go test -race can build here: it needs cgo and
// a C compiler.
func raceWorks() (bool, string) {
	out, err := exec.Command("go", "env", "CGO_ENABLED", "CC").Output()
	if err != nil {
		return false, err.Error()
	}
	f := strings.Fields(string(out))
	if len(f) < 2 || f[0] != "1" {
		return false, "cgo is off (CGO_ENABLED=0, which the go command sets where it finds no C compiler); install gcc to test with the race detector"
	}
	if _, err := exec.LookPath(f[1]); err != nil {
		return false, "no C compiler (" + f[1] + "); install gcc to test with the race detector"
	}
	return true, ""
}

// engine is `devstack -engine` running for this run.
type engine struct {
	cmd    *exec.Cmd
	dsn    string
	server dbtest.ServerInfo
}

// newEngine builds the dev stack and starts its embedded engine on a free
// port of 127.0.0.1.
func newEngine() (*engine, error) {
	bin, err := filepath.Abs(filepath.Join("bin", "devstack"))
	if err != nil {
		return nil, err
	}
	if out, err := exec.Command("go", "build", "-o", bin, "./apps/devstack").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./apps/devstack: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-engine", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	setParentDeathSignal(cmd.SysProcAttr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	e := &engine{cmd: cmd}
	// Its first line is "embedded engine on ADDR: DSN".
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, out)
	}()
	select {
	case line, ok := <-lines:
		_, dsn, found := strings.Cut(line, ": ")
		if !ok || !found {
			e.stop()
			return nil, fmt.Errorf("devstack -engine said %q", line)
		}
		e.dsn = dsn
	case <-time.After(30 * time.Second):
		e.stop()
		return nil, errors.New("devstack -engine did not start within 30s")
	}
	if e.server, _, err = dbtest.Check(context.Background(), e.dsn); err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

func (e *engine) stop() {
	if e.cmd.Process != nil && e.cmd.ProcessState == nil {
		e.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { e.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			e.cmd.Process.Kill()
			<-done
		}
	}
}

// stopOnSignal runs cleanup and exits when the run is interrupted; go test,
// in the same process group, gets the signal too.
func stopOnSignal(cleanup func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		cleanup()
		say("interrupted (%s)", s)
		os.Exit(130)
	}()
}

// setParentDeathSignal has Linux kill the engine if this process dies
// without stopping it; the field exists on Linux only.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	if f := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig"); f.IsValid() && f.CanSet() {
		f.Set(reflect.ValueOf(syscall.SIGKILL))
	}
}

func withoutEnv(env []string, names ...string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(names, name)
	})
}

func say(format string, args ...any) {
	fmt.Printf(prefix+format+"\n", args...)
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func since(t time.Time) string {
	return time.Since(t).Round(time.Second).String()
}
