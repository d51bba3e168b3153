// Package migrate checks that a service brings its schema up to date at
// start whatever an earlier start left behind: a replica killed with SIGKILL
// in the middle of a migration, a dirty version written by hand, or several
// replicas starting on one database at once.
package migrate

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/b2borders/platform/adapters/mysql"
	"github.com/b2borders/platform/migrations"
	"github.com/b2borders/platform/testsuite/dbtest"
)

// step is one migration of the orders schema and the table it creates,
// changes or fills.
type step struct {
	version int
	file    string
	table   string
}

var (
	upFile      = regexp.MustCompile(`^(\d+)_\w+\.up\.sql$`)
	createTable = regexp.MustCompile("(?i)(?:(?:CREATE|ALTER) TABLE (?:IF NOT EXISTS )?|INSERT INTO )`?(\\w+)`?")
)

// orderSteps lists the orders schema's migrations in order.
func orderSteps(t *testing.T) []step {
	t.Helper()
	files, err := fs.Glob(migrations.Orders, "*.up.sql")
	if err != nil {
		t.Fatal(err)
	}
	var steps []step
	for _, f := range files {
		m := upFile.FindStringSubmatch(f)
		if m == nil {
			t.Fatalf("%s: not a migration file name", f)
		}
		v, _ := strconv.Atoi(m[1])
		body := readFile(t, f)
		c := createTable.FindStringSubmatch(body)
		if c == nil {
			t.Fatalf("%s creates or changes no table", f)
		}
		steps = append(steps, step{version: v, file: f, table: c[1]})
	}
	slices.SortFunc(steps, func(a, b step) int { return a.version - b.version })
	if len(steps) == 0 {
		t.Fatal("the orders schema has no migrations")
	}
	return steps
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := fs.ReadFile(migrations.Orders, name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// open returns a pool on the database of dsn, closed when t ends.
func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// migrationState reads schema_migrations; ok is false while it is missing
// or empty.
func migrationState(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (version int, dirty, ok bool) {
	err := q.QueryRowContext(ctx, "SELECT version, dirty FROM schema_migrations LIMIT 1").Scan(&version, &dirty)
	return version, dirty, err == nil
}

// schema is every table of a database with its SHOW CREATE TABLE.
type schema map[string]string

func readSchema(t *testing.T, db *sql.DB) schema {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	s := schema{}
	for _, name := range tables {
		var n, ddl string
		if err := db.QueryRowContext(t.Context(), "SHOW CREATE TABLE `"+name+"`").Scan(&n, &ddl); err != nil {
			t.Fatal(err)
		}
		s[name] = ddl
	}
	return s
}

// reference is the schema a clean first start creates.
func reference(t *testing.T) schema {
	t.Helper()
	dsn := dbtest.NewDatabase(t)
	db, err := mysql.Open(t.Context(), mysql.Config{DSN: dsn, Schema: migrations.Orders})
	if err != nil {
		t.Fatalf("clean start: %v", err)
	}
	db.Close()
	return readSchema(t, open(t, dsn))
}

// assertWhole checks that the database of dsn is clean at the newest
// version and has every table, each exactly as a clean start creates it.
func assertWhole(t *testing.T, dsn string, steps []step, want schema) {
	t.Helper()
	db := open(t, dsn)
	newest := steps[len(steps)-1].version
	if v, dirty, ok := migrationState(t.Context(), db); !ok || v != newest || dirty {
		t.Errorf("schema_migrations: version %d, dirty %v, present %v; want version %d, clean", v, dirty, ok, newest)
	}
	got := readSchema(t, db)
	for _, s := range steps {
		if _, ok := got[s.table]; !ok {
			t.Errorf("table %s is missing", s.table)
		}
	}
	for name, ddl := range want {
		if got[name] != ddl {
			t.Errorf("table %s differs from a clean start:\n got: %s\nwant: %s", name, got[name], ddl)
		}
	}
}

// buildOrdersAPI builds the orders-api binary into a folder of t's.
func buildOrdersAPI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "orders-api")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/b2borders/platform/apps/orders-api")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build orders-api: %v\n%s", err, out)
	}
	return bin
}

// ordersAPI is the binary, set to start on the database of dsn.
func ordersAPI(bin, dsn string) *exec.Cmd {
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+dsn,
		"JWT_SECRET=migrate-test-jwt-secret-0123456789",
		"SERVICE_TOKEN=migrate-test-service-token-0123456789",
		"CUSTOMERS_API_URL=http://127.0.0.1:1",
		"PORT=0",
		"LOG_LEVEL=info",
	)
	return cmd
}

// killWhileDirty starts the binary on a fresh database and sends it SIGKILL
// the moment schema_migrations shows a migration in progress. It returns the
// version that was dirty when the kill was sent.
func killWhileDirty(t *testing.T, bin, dsn string, newest int) (version int, sent bool) {
	t.Helper()
	conn, err := open(t, dsn).Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	cmd := ordersAPI(bin, dsn)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() { cmd.Process.Kill(); <-exited }()

	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			t.Fatalf("orders-api exited by itself: %s", stderr.String())
		default:
		}
		v, dirty, ok := migrationState(t.Context(), conn)
		switch {
		case dirty:
			cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			return v, true
		case ok && v == newest:
			return 0, false // it finished before a poll saw a step in progress
		}
	}
	return 0, false
}

// serve starts the binary on dsn and returns the address it listens on once
// it logs that it does; the process is stopped when t ends.
func serve(t *testing.T, bin, dsn string) string {
	t.Helper()
	cmd := ordersAPI(bin, dsn)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	addr := make(chan string, 1)
	var log strings.Builder
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
				io.Copy(io.Discard, pipe)
				return
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("orders-api stopped before it listened:\n%s", log.String())
		}
		_, port, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatalf("listening on %q: %v", a, err)
		}
		return "127.0.0.1:" + port
	case <-time.After(30 * time.Second):
		t.Fatal("orders-api did not listen within 30s")
	}
	return ""
}

// TestKilledMidMigrationRecoversAtNextStart kills the real orders-api with
// SIGKILL while a migration is in progress, then starts it again on the
// database it left dirty.
func TestKilledMidMigrationRecoversAtNextStart(t *testing.T) {
	// A killed session's schema lock and half-applied step are InnoDB's
	// and MySQL's to recover.
	dbtest.RequireInnoDB(t)
	steps := orderSteps(t)
	want := reference(t)
	bin := buildOrdersAPI(t)

	const tries = 25
	for try := 1; try <= tries; try++ {
		dsn := dbtest.NewDatabase(t)
		v, sent := killWhileDirty(t, bin, dsn, steps[len(steps)-1].version)
		if !sent {
			continue
		}
		got, dirty, _ := migrationState(t.Context(), open(t, dsn))
		if !dirty {
			continue // the step ended between the poll and the kill
		}
		var tables int
		if err := open(t, dsn).QueryRowContext(t.Context(),
			"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?",
			steps[slices.IndexFunc(steps, func(s step) bool { return s.version == got })].table).Scan(&tables); err != nil {
			t.Fatal(err)
		}
		t.Logf("try %d: killed while version %d was in progress; left dirty at version %d, its table created: %v", try, v, got, tables == 1)

		addr := serve(t, bin, dsn)
		res, err := http.Get("http://" + addr + "/health")
		if err != nil {
			t.Fatalf("restarted orders-api: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("restarted orders-api: GET /health: %d", res.StatusCode)
		}
		assertWhole(t, dsn, steps, want)
		return
	}
	t.Fatalf("no SIGKILL landed while a migration was in progress in %d tries", tries)
}

// TestDirtyVersionIsApplied starts on a database left dirty at each version,
// with that version's table already created and without it.
func TestDirtyVersionIsApplied(t *testing.T) {
	steps := orderSteps(t)
	want := reference(t)
	for i, s := range steps {
		for _, present := range []bool{true, false} {
			name := fmt.Sprintf("v%d_%s_absent", s.version, s.table)
			applied := steps[:i]
			if present {
				name = fmt.Sprintf("v%d_%s_present", s.version, s.table)
				applied = steps[:i+1]
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				dsn := dbtest.NewDatabase(t)
				// A step that changes a table runs its ALTER through
				// PREPARE: several statements in one file.
				sep := "?"
				if strings.Contains(dsn, "?") {
					sep = "&"
				}
				db := open(t, dsn+sep+"multiStatements=true")
				for _, a := range applied {
					if _, err := db.ExecContext(t.Context(), readFile(t, a.file)); err != nil {
						t.Fatalf("%s: %v", a.file, err)
					}
				}
				markDirty(t, db, s.version)

				opened, err := mysql.Open(t.Context(), mysql.Config{DSN: dsn, Schema: migrations.Orders})
				if err != nil {
					t.Fatalf("start on a database dirty at %d: %v", s.version, err)
				}
				opened.Close()
				assertWhole(t, dsn, steps, want)
			})
		}
	}

	t.Run("unknown_version", func(t *testing.T) {
		t.Parallel()
		dsn := dbtest.NewDatabase(t)
		db := open(t, dsn)
		unknown := steps[len(steps)-1].version + 1
		markDirty(t, db, unknown)
		_, err := mysql.Open(t.Context(), mysql.Config{DSN: dsn, Schema: migrations.Orders})
		if err == nil || !strings.Contains(err.Error(), strconv.Itoa(unknown)) {
			t.Fatalf("start on a database dirty at a version this build lacks: %v; want an error naming %d", err, unknown)
		}
		if v, dirty, _ := migrationState(t.Context(), db); v != unknown || !dirty {
			t.Errorf("schema_migrations changed to version %d, dirty %v", v, dirty)
		}
	})
}

// markDirty records version as in progress, as a start that died in it does.
func markDirty(t *testing.T, db *sql.DB, version int) {
	t.Helper()
	for _, q := range []string{
		"CREATE TABLE schema_migrations (version bigint not null primary key, dirty boolean not null)",
		"INSERT INTO schema_migrations (version, dirty) VALUES (" + strconv.Itoa(version) + ", 1)",
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// replicas is how many services start on one database at once.
const replicas = 4

// startTogether opens dsn with schema from replicas goroutines at once and
// fails t if any of them fails.
func startTogether(t *testing.T, dsn string, schema fs.FS) {
	t.Helper()
	start := make(chan struct{})
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			<-start
			db, err := mysql.Open(t.Context(), mysql.Config{DSN: dsn, Schema: schema})
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
}

// TestReplicasStartTogether starts several replicas on one fresh database
// at once: all of them start, and each migration runs once.
func TestReplicasStartTogether(t *testing.T) {
	t.Run("orders_schema", func(t *testing.T) {
		steps := orderSteps(t)
		want := reference(t)
		dsn := dbtest.NewDatabase(t)
		startTogether(t, dsn, migrations.Orders)
		assertWhole(t, dsn, steps, want)
	})

	for _, dirtyAt := range []int{0, 3} {
		t.Run(fmt.Sprintf("each_step_once_dirty_at_%d", dirtyAt), func(t *testing.T) {
			db, dsn := countingDatabase(t)
			if dirtyAt > 0 {
				// A dead replica's: it wrote the dirty mark, not the row.
				for v := 1; v < dirtyAt; v++ {
					recordRun(t, db, v)
				}
				markDirty(t, db, dirtyAt)
			}
			startTogether(t, dsn, counting)
			assertEachStepOnce(t, db)
		})
	}
}

// counting is a schema of steps that are not idempotent and take a while
// each: every run of a step adds a row to runs, so a step run twice shows.
var counting = func() fstest.MapFS {
	fsys := fstest.MapFS{}
	for v := 1; v <= countingSteps; v++ {
		fsys[fmt.Sprintf("%06d_run.up.sql", v)] = &fstest.MapFile{
			Data: fmt.Appendf(nil, "INSERT INTO runs (step) SELECT %d FROM DUAL WHERE SLEEP(0.05) = 0", v),
		}
	}
	return fsys
}()

const countingSteps = 5

// countingDatabase returns a fresh database with the runs table counting
// needs, and its DSN.
func countingDatabase(t *testing.T) (*sql.DB, string) {
	t.Helper()
	dsn := dbtest.NewDatabase(t)
	db := open(t, dsn)
	if _, err := db.ExecContext(t.Context(), "CREATE TABLE runs (step INT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return db, dsn
}

// recordRun adds the row that a run of step v adds.
func recordRun(t *testing.T, db *sql.DB, v int) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), "INSERT INTO runs (step) VALUES (?)", v); err != nil {
		t.Fatal(err)
	}
}

// assertEachStepOnce checks that every step of counting ran exactly once
// and that schema_migrations is clean at the last.
func assertEachStepOnce(t *testing.T, db *sql.DB) {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "SELECT step, COUNT(*) FROM runs GROUP BY step ORDER BY step")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got, want []string
	for rows.Next() {
		var step, n int
		if err := rows.Scan(&step, &n); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d×%d", step, n))
	}
	for v := 1; v <= countingSteps; v++ {
		want = append(want, fmt.Sprintf("%d×1", v))
	}
	if !slices.Equal(got, want) {
		t.Errorf("steps run (step×times): %v; want each once: %v", got, want)
	}
	if v, dirty, ok := migrationState(t.Context(), db); !ok || v != countingSteps || dirty {
		t.Errorf("schema_migrations: version %d, dirty %v; want %d, clean", v, dirty, countingSteps)
	}
}

// TestStepInProgressIsLeftToItsReplica has a replica start while another
// one holds the schema lock in the middle of a step, which is dirty for as
// long as it runs: the newcomer must wait, not take the step for a dead
// replica's and run it a second time.
func TestStepInProgressIsLeftToItsReplica(t *testing.T) {
	db, dsn := countingDatabase(t)
	recordRun(t, db, 1)
	recordRun(t, db, 2)
	markDirty(t, db, 3)

	// The live replica's session: the lock is the one adapters/mysql takes,
	// named after the database.
	live, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	var dbName string
	if err := live.QueryRowContext(t.Context(), "SELECT DATABASE()").Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	var got int
	if err := live.QueryRowContext(t.Context(), "SELECT GET_LOCK(?, 0)", "schema:"+dbName).Scan(&got); err != nil || got != 1 {
		t.Fatalf("take the schema lock: %d, %v", got, err)
	}

	started := make(chan error, 1)
	go func() {
		opened, err := mysql.Open(context.Background(), mysql.Config{DSN: dsn, Schema: counting})
		if err == nil {
			opened.Close()
		}
		started <- err
	}()
	select {
	case err := <-started:
		t.Fatalf("a replica started while another held the schema lock: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	if v, dirty, _ := migrationState(t.Context(), db); v != 3 || !dirty {
		t.Fatalf("a waiting replica changed schema_migrations to version %d, dirty %v", v, dirty)
	}

	// The live replica finishes its step and lets go.
	recordRun(t, db, 3)
	if _, err := db.ExecContext(t.Context(), "UPDATE schema_migrations SET dirty = 0"); err != nil {
		t.Fatal(err)
	}
	if _, err := live.ExecContext(t.Context(), "SELECT RELEASE_LOCK(?)", "schema:"+dbName); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start once the lock was free: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the replica did not start within 30s of the lock being free")
	}
	assertEachStepOnce(t, db)
}
