// Package deploy checks the files behind `docker compose up`: the compose files, the
// Dockerfiles they build and the MySQL init script. No Docker engine is needed, so a
// broken stack shows up here rather than on a user's first `docker compose up`.
package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
)

const (
	composeFile    = "docker-compose.yml"
	devComposeFile = "docker-compose.dev.yml"
	envExample     = ".env.example"
	initDir        = "migrations/mysql-init"
	networkName    = "orders-network"
	volumeName     = "mysql-data"
	distrolessBase = "gcr.io/distroless/static-debian12:nonroot"
)

// serviceWant is what a user of one compose service relies on.
type serviceWant struct {
	container string
	ports     map[string]uint32 // published host port -> container port
	dependsOn []string          // each must wait for service_healthy
	// binaryHealthcheck is the image's own binary, whose `healthcheck` subcommand the
	// health check must call; empty for third-party images.
	binaryHealthcheck string
	// healthcheckHas are substrings the health check command must contain.
	healthcheckHas []string
}

// mysqlHealth probes over TCP: the image's temporary init server listens on the socket
// only, so a socket ping would report healthy before the databases exist.
var mysqlHealth = []string{"mysqladmin ping", "-h 127.0.0.1"}

var wantServices = map[string]map[string]serviceWant{
	composeFile: {
		"mysql": {
			container:      "orders-system-mysql",
			ports:          map[string]uint32{"3306": 3306},
			healthcheckHas: mysqlHealth,
		},
		"customers-api": {
			container:         "customers-api",
			ports:             map[string]uint32{"3001": 3001},
			dependsOn:         []string{"mysql"},
			binaryHealthcheck: "/customers-api",
		},
		"orders-api": {
			container:         "orders-api",
			ports:             map[string]uint32{"3002": 3002},
			dependsOn:         []string{"customers-api", "mysql"},
			binaryHealthcheck: "/orders-api",
		},
		"orchestrator": {
			container:         "orchestrator",
			ports:             map[string]uint32{"3000": 3000},
			dependsOn:         []string{"customers-api", "orders-api"},
			binaryHealthcheck: "/orchestrator",
		},
	},
	devComposeFile: {
		"mysql": {
			container:      "orders-system-mysql-dev",
			ports:          map[string]uint32{"3306": 3306},
			healthcheckHas: mysqlHealth,
		},
		"phpmyadmin": {
			container: "orders-system-phpmyadmin-dev",
			ports:     map[string]uint32{"8080": 80},
			dependsOn: []string{"mysql"},
		},
	},
}

func TestComposeServices(t *testing.T) {
	root := repoRoot(t)
	for file, services := range wantServices {
		t.Run(file, func(t *testing.T) {
			project := loadProject(t, root, file)

			var got, want []string
			for name := range project.Services {
				got = append(got, name)
			}
			for name := range services {
				want = append(want, name)
			}
			sort.Strings(got)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Fatalf("services = %v, want %v", got, want)
			}

			for name, w := range services {
				svc := project.Services[name]
				if svc.ContainerName != w.container {
					t.Errorf("%s: container_name = %q, want %q", name, svc.ContainerName, w.container)
				}
				checkPorts(t, name, svc.Ports, w.ports)
				checkHealthcheck(t, name, svc.HealthCheck, w.binaryHealthcheck, w.healthcheckHas)
				checkDependsOn(t, name, svc.DependsOn, w.dependsOn)
			}
		})
	}
}

func checkPorts(t *testing.T, service string, ports []types.ServicePortConfig, want map[string]uint32) {
	t.Helper()
	got := map[string]uint32{}
	for _, p := range ports {
		got[p.Published] = p.Target
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: published ports = %v, want %v", service, got, want)
	}
}

func checkHealthcheck(t *testing.T, service string, hc *types.HealthCheckConfig, binary string, has []string) {
	t.Helper()
	if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE" {
		t.Errorf("%s: no usable healthcheck: %+v", service, hc)
		return
	}
	for _, sub := range has {
		if !strings.Contains(strings.Join(hc.Test, " "), sub) {
			t.Errorf("%s: healthcheck %q lacks %q", service, hc.Test, sub)
		}
	}
	if binary == "" {
		return
	}
	// distroless has no shell, so only the exec form with the binary itself can work.
	want := []string{"CMD", binary, "healthcheck"}
	if !slices.Equal([]string(hc.Test), want) {
		t.Errorf("%s: healthcheck test = %q, want %q", service, hc.Test, want)
	}
}

func checkDependsOn(t *testing.T, service string, deps types.DependsOnConfig, want []string) {
	t.Helper()
	var got []string
	for name, dep := range deps {
		got = append(got, name)
		if dep.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: depends_on %s condition = %q, want %q", service, name, dep.Condition, types.ServiceConditionHealthy)
		}
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s: depends_on = %v, want %v", service, got, want)
	}
}

// The APIs must log in as the user the mysql image creates, to the database the init
// script creates for them, and orders-api must find customers-api by its service name.
func TestComposeWiring(t *testing.T) {
	root := repoRoot(t)
	project := loadProject(t, root, composeFile)
	mysql := project.Services["mysql"]
	user, password := envValue(t, mysql, "MYSQL_USER"), envValue(t, mysql, "MYSQL_PASSWORD")

	for service, db := range map[string]string{"customers-api": "customers_db", "orders-api": "orders_db"} {
		raw := envValue(t, project.Services[service], "DATABASE_URL")
		u, err := url.Parse(raw)
		if err != nil {
			t.Errorf("%s: DATABASE_URL %q: %v", service, raw, err)
			continue
		}
		gotPassword, _ := u.User.Password()
		if u.Scheme != "mysql" || u.User.Username() != user || gotPassword != password ||
			u.Host != "mysql:3306" || u.Path != "/"+db {
			t.Errorf("%s: DATABASE_URL = %q, want mysql://%s:%s@mysql:3306/%s", service, raw, user, password, db)
		}
	}

	for service, vars := range map[string]map[string]string{
		"orders-api":   {"CUSTOMERS_API_URL": "http://customers-api:3001"},
		"orchestrator": {"CUSTOMERS_API_URL": "http://customers-api:3001", "ORDERS_API_URL": "http://orders-api:3002"},
	} {
		for name, want := range vars {
			if got := envValue(t, project.Services[service], name); got != want {
				t.Errorf("%s: %s = %q, want %q", service, name, got, want)
			}
		}
	}

	if _, ok := project.Networks[networkName]; !ok {
		t.Errorf("network %q not declared", networkName)
	}
	for name, svc := range project.Services {
		if _, ok := svc.Networks[networkName]; !ok {
			t.Errorf("%s: not on network %q", name, networkName)
		}
	}
}

// Both stacks keep MySQL data in a named volume and initialise it from the repo's script.
func TestComposeMySQLStorage(t *testing.T) {
	root := repoRoot(t)
	for _, file := range []string{composeFile, devComposeFile} {
		t.Run(file, func(t *testing.T) {
			project := loadProject(t, root, file)
			if _, ok := project.Volumes[volumeName]; !ok {
				t.Errorf("named volume %q not declared", volumeName)
			}
			var data, init bool
			for _, v := range project.Services["mysql"].Volumes {
				switch {
				case v.Type == types.VolumeTypeVolume && v.Source == volumeName && v.Target == "/var/lib/mysql":
					data = true
				case v.Type == types.VolumeTypeBind && v.Target == "/docker-entrypoint-initdb.d":
					init = true
					if v.Source != filepath.Join(root, initDir) {
						t.Errorf("init scripts mounted from %q, want %q", v.Source, filepath.Join(root, initDir))
					}
					if !v.ReadOnly {
						t.Errorf("init scripts mounted read-write")
					}
				}
			}
			if !data {
				t.Errorf("mysql does not keep /var/lib/mysql in volume %q", volumeName)
			}
			if !init {
				t.Errorf("mysql has no /docker-entrypoint-initdb.d mount")
			}
		})
	}
}

// compose fails on an unset `${VAR:?}` and silently substitutes "" for an unset `${VAR}`;
// either way a user who copied .env.example must have every variable the files use.
func TestComposeVariablesAreInEnvExample(t *testing.T) {
	root := repoRoot(t)
	env, err := dotenv.Read(filepath.Join(root, envExample))
	if err != nil {
		t.Fatal(err)
	}
	// `$$` is compose's escape for a literal `$` handed to the container, not a variable.
	ref := regexp.MustCompile(`\$\$|\$\{?([A-Za-z_][A-Za-z0-9_]*)`)
	for _, file := range []string{composeFile, devComposeFile} {
		text := readFile(t, filepath.Join(root, file))
		for _, m := range ref.FindAllStringSubmatch(text, -1) {
			if m[1] == "" {
				continue
			}
			if _, ok := env[m[1]]; !ok {
				t.Errorf("%s uses $%s, which %s does not define", file, m[1], envExample)
			}
		}
	}
}

// The compose build must point at Dockerfiles that build from the repository root into a
// static binary on distroless, started and health-checked the way compose expects.
func TestComposeBuildsServiceImages(t *testing.T) {
	root := repoRoot(t)
	project := loadProject(t, root, composeFile)
	modules := workspaceModules(t, root)

	for _, name := range []string{"customers-api", "orders-api", "orchestrator"} {
		t.Run(name, func(t *testing.T) {
			svc := project.Services[name]
			if svc.Build == nil {
				t.Fatalf("no build section")
			}
			// The Dockerfile copies go.work and every module, so only the root works.
			if svc.Build.Context != root {
				t.Errorf("build context = %q, want the repository root %q", svc.Build.Context, root)
			}
			dockerfile := filepath.Join(svc.Build.Context, svc.Build.Dockerfile)
			if _, err := os.Stat(dockerfile); err != nil {
				t.Fatalf("dockerfile: %v", err)
			}
			df := parseDockerfile(t, dockerfile)
			checkCopiesWorkspace(t, df, modules)

			binary := "/" + name
			// The stage compose builds: its target, else the last.
			final := df[len(df)-1]
			if target := svc.Build.Target; target != "" {
				i := slices.IndexFunc(df, func(s *dockerStage) bool { return s.name == target })
				if i < 0 {
					t.Fatalf("build target %q is no stage of %s", target, svc.Build.Dockerfile)
				}
				final = df[i]
			}
			if final.image != distrolessBase {
				t.Errorf("final stage FROM %q, want %q", final.image, distrolessBase)
			}
			if u := final.last("USER"); u != "nonroot" {
				t.Errorf("final stage USER = %q, want nonroot", u)
			}
			if got := jsonArgs(t, final.last("ENTRYPOINT")); !slices.Equal(got, []string{binary}) {
				t.Errorf("ENTRYPOINT = %q, want [%q]", got, binary)
			}
			hc := final.last("HEALTHCHECK")
			_, cmd, _ := strings.Cut(hc, "CMD ")
			if got := jsonArgs(t, cmd); !slices.Equal(got, []string{binary, "healthcheck"}) {
				t.Errorf("HEALTHCHECK = %q, want CMD [%q, \"healthcheck\"]", hc, binary)
			}
			for _, p := range svc.Ports {
				if port := fmt.Sprint(p.Target); !slices.Contains(final.all("EXPOSE"), port) {
					t.Errorf("final stage EXPOSE %q, want %s", final.all("EXPOSE"), port)
				}
			}

			from, src := final.copiedFrom(binary)
			if from == nil {
				t.Fatalf("final stage copies %s from no build stage", binary)
			}
			checkGoBuild(t, from, src, "./apps/"+name, "CGO_ENABLED=0", "-trimpath")
		})
	}
}

// The orchestrator ships as a Lambda zip exported with `docker build --output`.
func TestOrchestratorDockerfile(t *testing.T) {
	root := repoRoot(t)
	dockerfile := filepath.Join(root, "apps/orchestrator/Dockerfile")
	df := parseDockerfile(t, dockerfile)
	checkCopiesWorkspace(t, df, workspaceModules(t, root))

	final := df[len(df)-1]
	if final.image != "scratch" {
		t.Errorf("final stage FROM %q, want scratch so --output exports only the zip", final.image)
	}
	from, zipSrc := final.copiedFrom("/orchestrator.zip")
	if from == nil {
		t.Fatalf("final stage copies /orchestrator.zip from no build stage")
	}
	dir := filepath.Dir(zipSrc)
	checkGoBuild(t, from, dir+"/bootstrap", "./apps/orchestrator",
		"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "-trimpath", "-tags lambda.norpc")
	if run := from.runContaining("./apps/orchestrator"); !strings.Contains(run, "zip") || !strings.Contains(run, "orchestrator.zip") {
		t.Errorf("the build does not zip bootstrap into orchestrator.zip: %q", run)
	}
	if text := readFile(t, dockerfile); !strings.Contains(text, "--output type=local") || !strings.Contains(text, "--target "+final.name) {
		t.Errorf("no usage line showing --target %s --output type=local", final.name)
	}
}

// checkGoBuild asserts that stage builds pkg into out with every flag.
func checkGoBuild(t *testing.T, stage *dockerStage, out, pkg string, flags ...string) {
	t.Helper()
	run := stage.runContaining(pkg)
	if run == "" || !strings.Contains(run, "go build") {
		t.Errorf("stage %q has no `go build %s`", stage.name, pkg)
		return
	}
	if !strings.Contains(run, "-o "+out+" ") {
		t.Errorf("go build does not write %s: %q", out, run)
	}
	for _, f := range flags {
		if !strings.Contains(run, f) {
			t.Errorf("go build lacks %s: %q", f, run)
		}
	}
}

// checkCopiesWorkspace asserts that some stage copies go.work and every module's go.mod:
// a workspace module missing from the image stops the go command inside it.
func checkCopiesWorkspace(t *testing.T, df []*dockerStage, modules []string) {
	t.Helper()
	var sources []string
	for _, s := range df {
		for _, c := range s.all("COPY") {
			sources = append(sources, strings.Fields(c)...)
		}
	}
	for _, want := range append([]string{"go.work"}, modules...) {
		if want != "go.work" {
			want = path.Join(want, "go.mod")
		}
		if !slices.Contains(sources, want) {
			t.Errorf("no stage copies %s", want)
		}
	}
}

func TestMySQLInitScript(t *testing.T) {
	root := repoRoot(t)
	entries, err := os.ReadDir(filepath.Join(root, initDir))
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, e := range entries {
		p := filepath.Join(root, initDir, e.Name())
		switch filepath.Ext(e.Name()) {
		case ".sql":
		case ".sh":
			if bash, err := exec.LookPath("bash"); err == nil {
				if out, err := exec.Command(bash, "-n", p).CombinedOutput(); err != nil {
					t.Errorf("%s: %v\n%s", e.Name(), err, out)
				}
			}
		default:
			continue
		}
		all.WriteString(readFile(t, p))
	}
	text := all.String()
	for _, db := range []string{"customers_db", "orders_db"} {
		if !regexp.MustCompile(`(?i)CREATE DATABASE (IF NOT EXISTS )?` + "`?" + db + "`?" + `[^;]*utf8mb4`).MatchString(text) {
			t.Errorf("init scripts do not create %s with utf8mb4", db)
		}
		if !regexp.MustCompile(`(?i)GRANT ALL[^;]*ON ` + "`?" + db + "`?" + `\.\*[^;]*MYSQL_USER`).MatchString(text) {
			t.Errorf("init scripts do not grant %s to MYSQL_USER", db)
		}
	}
}

// Secrets live in .env: git must not track it and docker build must not send it.
func TestIgnoreFilesKeepEnvOut(t *testing.T) {
	root := repoRoot(t)
	for _, file := range []string{".gitignore", ".dockerignore"} {
		lines := strings.Split(readFile(t, filepath.Join(root, file)), "\n")
		if !slices.Contains(lines, ".env") && !slices.Contains(lines, "/.env") {
			t.Errorf("%s does not exclude .env", file)
		}
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.work above the test's directory")
		}
		dir = parent
	}
}

// loadProject loads file as `docker compose` would for a user who copied .env.example
// to .env, ignoring this machine's environment so the result does not depend on it.
func loadProject(t *testing.T, root, file string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, file)},
		cli.WithWorkingDirectory(root),
		cli.WithEnvFiles(filepath.Join(root, envExample)),
		cli.WithDotEnv,
	)
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	return project
}

func envValue(t *testing.T, svc types.ServiceConfig, name string) string {
	t.Helper()
	v, ok := svc.Environment[name]
	if !ok || v == nil {
		t.Fatalf("%s: %s not set", svc.Name, name)
	}
	return *v
}

// workspaceModules returns the directories listed by go.work's use directives.
func workspaceModules(t *testing.T, root string) []string {
	t.Helper()
	out, err := exec.Command("go", "work", "edit", "-json", filepath.Join(root, "go.work")).Output()
	if err != nil {
		t.Fatalf("go work edit -json: %v", err)
	}
	var work struct{ Use []struct{ DiskPath string } }
	if err := json.Unmarshal(out, &work); err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, u := range work.Use {
		dirs = append(dirs, path.Clean(u.DiskPath))
	}
	if len(dirs) == 0 {
		t.Fatal("go.work uses no modules")
	}
	return dirs
}

// dockerStage is one FROM section of a Dockerfile, reduced to what the tests read.
type dockerStage struct {
	image, name  string
	prev         *dockerStage
	instructions [][2]string // keyword (upper case), arguments
}

func (s *dockerStage) all(keyword string) []string {
	var args []string
	for _, in := range s.instructions {
		if in[0] == keyword {
			args = append(args, in[1])
		}
	}
	return args
}

func (s *dockerStage) last(keyword string) string {
	args := s.all(keyword)
	if len(args) == 0 {
		return ""
	}
	return args[len(args)-1]
}

func (s *dockerStage) runContaining(sub string) string {
	for _, run := range s.all("RUN") {
		if strings.Contains(run, sub) {
			return run
		}
	}
	return ""
}

// copiedFrom finds `COPY --from=stage src dest` in s and returns that stage and src.
func (s *dockerStage) copiedFrom(dest string) (*dockerStage, string) {
	for _, c := range s.all("COPY") {
		f := strings.Fields(c)
		if len(f) != 3 || !strings.HasPrefix(f[0], "--from=") || f[2] != dest {
			continue
		}
		name := strings.TrimPrefix(f[0], "--from=")
		for st := s.prev; st != nil; st = st.prev {
			if st.name == name {
				return st, f[1]
			}
		}
	}
	return nil, ""
}

// parseDockerfile splits a Dockerfile into stages, joining continuation lines and
// dropping comments; enough for the plain Dockerfiles in this repository.
func parseDockerfile(t *testing.T, file string) []*dockerStage {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	var stages []*dockerStage
	var logical strings.Builder
	flush := func() {
		line := strings.TrimSpace(logical.String())
		logical.Reset()
		if line == "" {
			return
		}
		keyword, args, _ := strings.Cut(line, " ")
		keyword = strings.ToUpper(keyword)
		args = strings.Join(strings.Fields(args), " ")
		if keyword == "FROM" {
			st := &dockerStage{}
			fields := slices.DeleteFunc(strings.Fields(args), func(s string) bool { return strings.HasPrefix(s, "--") })
			st.image = fields[0]
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				st.name = fields[2]
			}
			if len(stages) > 0 {
				st.prev = stages[len(stages)-1]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) > 0 {
			st := stages[len(stages)-1]
			st.instructions = append(st.instructions, [2]string{keyword, args})
		}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			logical.WriteString(cont + " ")
			continue
		}
		logical.WriteString(line)
		flush()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	flush()
	if len(stages) == 0 {
		t.Fatalf("%s: no FROM", file)
	}
	return stages
}

func jsonArgs(t *testing.T, s string) []string {
	t.Helper()
	var args []string
	if err := json.Unmarshal([]byte(s), &args); err != nil {
		t.Errorf("not an exec-form JSON array: %q", s)
	}
	return args
}

func readFile(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
