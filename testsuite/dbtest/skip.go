package dbtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Need is what a skipped test lacked.
type Need string

const (
	// NeedsServer: a real MySQL or MariaDB server, with InnoDB.
	NeedsServer Need = "server"
	// NeedsMariaDB: the MariaDB server binaries, for a private server
	// (StartServer).
	NeedsMariaDB Need = "mariadb"
)

// Skipped is one test dbtest skipped, as recorded under DBTEST_SKIP_DIR.
type Skipped struct {
	// Package is the test's directory, relative to the workspace root
	// (testsuite/contract).
	Package string `json:"package"`
	Test    string `json:"test"`
	Needs   Need   `json:"needs"`
}

func (s Skipped) String() string { return s.Package + "." + s.Test }

// strict reports whether a test that cannot run must fail rather than
// skip: a real server was asked for (TEST_MYSQL_DSN), or this is CI, where
// every test must run.
func strict() (bool, string) {
	if os.Getenv(EnvDSN) != "" {
		return true, EnvDSN + " is set, so every test must run"
	}
	if ci := strings.ToLower(os.Getenv("CI")); ci != "" && ci != "false" && ci != "0" {
		return true, "CI is set, so every test must run"
	}
	return false, ""
}

// skipOrFail skips t for want of need, recording the skip, or fails it
// where no test may be skipped.
func skipOrFail(t testing.TB, need Need, why string) {
	t.Helper()
	if ok, because := strict(); ok {
		fix := "point " + EnvDSN + " at MySQL 8.4 or MariaDB 10.11 or later"
		if need == NeedsMariaDB {
			fix = "install mariadb-server"
		}
		t.Fatalf("dbtest: %s cannot run: %s; %s: %s", t.Name(), why, because, fix)
	}
	if err := record(t, need); err != nil {
		t.Fatalf("dbtest: record the skip of %s: %v", t.Name(), err)
	}
	t.Skipf("skipped: %s", why)
}

// record leaves a file for t under DBTEST_SKIP_DIR, when it is set.
func record(t testing.TB, need Need) error {
	dir := os.Getenv(EnvSkipDir)
	if dir == "" {
		return nil
	}
	b, err := json.Marshal(Skipped{Package: packageDir(), Test: t.Name(), Needs: need})
	if err != nil {
		return err
	}
	var id [8]byte
	rand.Read(id[:])
	return os.WriteFile(filepath.Join(dir, "skip-"+hex.EncodeToString(id[:])+".json"), b, 0o644)
}

// packageDir is the directory of the test binary's package (go test runs
// it there), relative to the workspace root when there is one above it.
func packageDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "?"
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			if rel, err := filepath.Rel(dir, wd); err == nil {
				return filepath.ToSlash(rel)
			}
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return filepath.Base(wd)
}

// ReadSkipped returns the skips recorded under dir, sorted.
func ReadSkipped(dir string) ([]Skipped, error) {
	files, err := filepath.Glob(filepath.Join(dir, "skip-*.json"))
	if err != nil {
		return nil, err
	}
	var all []Skipped
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var s Skipped
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		all = append(all, s)
	}
	slices.SortFunc(all, func(a, b Skipped) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(all), nil
}
