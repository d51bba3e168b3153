package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/dotenv"

	"github.com/b2borders/platform/adapters/mysql"
	"github.com/b2borders/platform/apps/wire/customersapi"
	"github.com/b2borders/platform/apps/wire/orchestrator"
	"github.com/b2borders/platform/apps/wire/ordersapi"
	"github.com/b2borders/platform/apps/wire/shell"
	"github.com/b2borders/platform/core/events"
	"github.com/b2borders/platform/core/idempotency"
	"github.com/b2borders/platform/core/ordering"
)

// The variables, secrets, user and ports of a development setup are written down in
// several places: .env.example, both compose files, the Makefile's run targets, the dev
// stack's defaults, the services' defaults and the README. These tests keep them one set.

// serviceDirs hold the code of the deployable services; the dev stack, devtoken and
// loadgen are development tools with variables of their own.
var serviceDirs = []string{"apps/wire", "apps/customers-api", "apps/orders-api", "apps/orchestrator"}

// platformVars are set by the platform a service runs on, never by its operator.
var platformVars = []string{"AWS_LAMBDA_RUNTIME_API"}

var envRead = regexp.MustCompile(`(?:env\.(?:String|Secret|Required|Optional|Port|Int|Duration|DurationOrOff|URL)|os\.(?:Getenv|LookupEnv))\("([A-Z][A-Z0-9_]*)"`)

// readVars returns every variable the Go code under dirs reads.
func readVars(t *testing.T, root string, dirs ...string) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, dir := range dirs {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			for _, m := range envRead.FindAllStringSubmatch(readFile(t, p), -1) {
				seen[m[1]] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for n := range seen {
		if !slices.Contains(platformVars, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// serviceVars is every variable a service reads, checked to hold the ones every
// service is known to read, so that a broken pattern cannot pass the tests below.
func serviceVars(t *testing.T, root string) []string {
	t.Helper()
	names := readVars(t, root, serviceDirs...)
	for _, want := range []string{"PORT", "DATABASE_URL", "DB_TIMEOUT", "JWT_SECRET", "SERVICE_TOKEN", "CUSTOMERS_API_URL",
		"ORDERS_API_URL", "CANCEL_WINDOW", "IDEMPOTENCY_TTL", "LOG_LEVEL"} {
		if !slices.Contains(names, want) {
			t.Fatalf("found the services reading %v, which lacks %s: is the pattern still right?", names, want)
		}
	}
	return names
}

// readEnvExample returns .env.example's values and every name it mentions: set, or
// explained in a comment line of its own ("#   PORT   …").
func readEnvExample(t *testing.T, root string) (values map[string]string, mentioned []string) {
	t.Helper()
	values, err := dotenv.Read(filepath.Join(root, envExample))
	if err != nil {
		t.Fatal(err)
	}
	for name := range values {
		mentioned = append(mentioned, name)
	}
	comment := regexp.MustCompile(`(?m)^#\s+([A-Z][A-Z0-9_]*)\s`)
	for _, m := range comment.FindAllStringSubmatch(readFile(t, filepath.Join(root, envExample)), -1) {
		mentioned = append(mentioned, m[1])
	}
	return values, mentioned
}

func TestEnvExampleListsEveryVariableAServiceReads(t *testing.T) {
	root := repoRoot(t)
	_, mentioned := readEnvExample(t, root)
	for _, name := range serviceVars(t, root) {
		if !slices.Contains(mentioned, name) {
			t.Errorf("the services read %s, which %s does not list", name, envExample)
		}
	}
}

// The README's Configuration table lists exactly the variables the services read.
func TestReadmeConfigurationTable(t *testing.T) {
	root := repoRoot(t)
	readme := readFile(t, filepath.Join(root, "README.md"))
	_, section, _ := strings.Cut(readme, "\n## Configuration\n")
	section, _, _ = strings.Cut(section, "\n#")
	var table []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z][A-Z0-9_]*)` \\|").FindAllStringSubmatch(section, -1) {
		table = append(table, m[1])
	}
	sort.Strings(table)
	if want := serviceVars(t, root); !slices.Equal(table, want) {
		t.Errorf("README's Configuration table lists %v; the services read %v", table, want)
	}
}

// .env.example holds the services' own defaults and the dev stack's, so that a copied
// .env changes nothing but what its user changes.
func TestEnvExampleValuesAreTheDefaults(t *testing.T) {
	root := repoRoot(t)
	values, _ := readEnvExample(t, root)
	devstack := readFile(t, filepath.Join(root, "apps/devstack/stack.go"))
	devConst := func(name string) string {
		m := regexp.MustCompile(name + `\s*=\s*"([^"]+)"`).FindStringSubmatch(devstack)
		if m == nil {
			t.Fatalf("apps/devstack/stack.go: no %s", name)
		}
		return m[1]
	}
	want := map[string]string{
		"DB_TIMEOUT":           mysql.DefaultTimeout.String(),
		"CANCEL_WINDOW":        ordering.DefaultCancelWindow.String(),
		"IDEMPOTENCY_TTL":      idempotency.DefaultTTL.String(),
		"RESERVATION_TTL":      ordering.DefaultReservationTTL.String(),
		"EVENT_RETENTION":      events.DefaultRetention.String(),
		"WEBHOOK_TIMEOUT":      events.DefaultTimeout.String(),
		"WEBHOOK_MAX_ATTEMPTS": strconv.Itoa(events.DefaultMaxAttempts),
		"LOG_LEVEL":            "info",
		"CUSTOMERS_PORT":       strconv.Itoa(customersapi.DefaultPort),
		"ORDERS_PORT":          strconv.Itoa(ordersapi.DefaultPort),
		"ORCHESTRATOR_PORT":    strconv.Itoa(orchestrator.DefaultPort),
		"MYSQL_PORT":           "3306",
		"JWT_SECRET":           devConst("devJWTSecret"),
		"SERVICE_TOKEN":        devConst("devServiceToken"),
	}
	for name, w := range want {
		got, ok := values[name]
		if strings.HasSuffix(name, "_TIMEOUT") || strings.HasSuffix(name, "_WINDOW") || strings.HasSuffix(name, "_TTL") || strings.HasSuffix(name, "_RETENTION") {
			// Durations are compared as durations: 10m is 10m0s.
			g, err := time.ParseDuration(got)
			d, _ := time.ParseDuration(w)
			ok = ok && err == nil && g == d
		} else {
			ok = ok && got == w
		}
		if !ok {
			t.Errorf("%s: %s=%q, want %q", envExample, name, got, w)
		}
	}
	for _, name := range []string{"JWT_SECRET", "SERVICE_TOKEN"} {
		if len(values[name]) < shell.MinSecretLen {
			t.Errorf("%s: %s is shorter than the %d characters the services need", envExample, name, shell.MinSecretLen)
		}
	}
}

// Both compose files, loaded with .env.example, hand the services its values, and each
// `${NAME:-default}` falls back to that same value.
func TestComposeAgreesWithEnvExample(t *testing.T) {
	root := repoRoot(t)
	values, _ := readEnvExample(t, root)
	read := serviceVars(t, root)
	fallback := regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*):-([^}]*)\}`)
	for _, file := range []string{composeFile, devComposeFile} {
		for _, m := range fallback.FindAllStringSubmatch(readFile(t, filepath.Join(root, file)), -1) {
			if values[m[1]] != m[2] {
				t.Errorf("%s: ${%s:-%s} falls back to another value than %s's %q", file, m[1], m[2], envExample, values[m[1]])
			}
		}
	}

	project := loadProject(t, root, composeFile)
	published := map[string]string{
		"mysql": "MYSQL_PORT", "customers-api": "CUSTOMERS_PORT", "orders-api": "ORDERS_PORT", "orchestrator": "ORCHESTRATOR_PORT",
	}
	for name, svc := range project.Services {
		if v, ok := published[name]; ok {
			if len(svc.Ports) != 1 || svc.Ports[0].Published != values[v] {
				t.Errorf("%s: published ports %+v, want %s's %s=%s", name, svc.Ports, envExample, v, values[v])
			}
		}
		if name == "mysql" {
			continue
		}
		for env, v := range svc.Environment {
			if !slices.Contains(read, env) {
				t.Errorf("%s: sets %s, which no service reads", name, env)
			}
			if want, ok := values[env]; ok && (v == nil || *v != want) {
				t.Errorf("%s: %s=%v, want %s's %q", name, env, v, envExample, want)
			}
		}
	}
	dev := loadProject(t, root, devComposeFile)
	if p := dev.Services["mysql"].Ports; len(p) != 1 || p[0].Published != values["MYSQL_PORT"] {
		t.Errorf("%s: mysql publishes %+v, want %s's MYSQL_PORT=%s", devComposeFile, p, envExample, values["MYSQL_PORT"])
	}
}

// The Makefile's run targets read .env by the names .env.example gives, and there is one
// for each service.
func TestMakefileRunTargetsUseEnvExample(t *testing.T) {
	root := repoRoot(t)
	_, mentioned := readEnvExample(t, root)
	makefile := readFile(t, filepath.Join(root, "Makefile"))
	for _, target := range []string{"run-customers-api", "run-orders-api", "run-orchestrator", "token"} {
		if !regexp.MustCompile(`(?m)^` + target + `:`).MatchString(makefile) {
			t.Errorf("Makefile: no %s target", target)
		}
	}
	for _, m := range regexp.MustCompile(`\$\$\{?([A-Z][A-Z0-9_]*)`).FindAllStringSubmatch(makefile, -1) {
		if !slices.Contains(mentioned, m[1]) {
			t.Errorf("Makefile uses $%s, which %s does not list", m[1], envExample)
		}
	}
}

// The dev stack reads its ports under .env.example's names.
func TestDevstackPortsUseEnvExampleNames(t *testing.T) {
	root := repoRoot(t)
	values, _ := readEnvExample(t, root)
	for _, name := range readVars(t, root, "apps/devstack") {
		if strings.HasSuffix(name, "_PORT") {
			if _, ok := values[name]; !ok {
				t.Errorf("the dev stack reads %s, which %s does not set", name, envExample)
			}
		}
	}
}

// Every secret and database URL the README shows is .env.example's.
func TestReadmeUsesEnvExampleValues(t *testing.T) {
	root := repoRoot(t)
	values, _ := readEnvExample(t, root)
	readme := readFile(t, filepath.Join(root, "README.md"))
	for _, name := range []string{"JWT_SECRET", "SERVICE_TOKEN", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD"} {
		for _, m := range regexp.MustCompile(name+`=([^\s'"$…]+)`).FindAllStringSubmatch(readme, -1) {
			if m[1] != values[name] {
				t.Errorf("README sets %s=%s, %s has %q", name, m[1], envExample, values[name])
			}
		}
	}
	users := map[string]string{values["MYSQL_USER"]: values["MYSQL_PASSWORD"], "root": values["MYSQL_ROOT_PASSWORD"]}
	for _, m := range regexp.MustCompile(`mysql://([^:@/\s]+)(?::([^@/\s]*))?@`).FindAllStringSubmatch(readme, -1) {
		switch {
		case m[1] == "user" && m[2] == "pass", strings.HasPrefix(m[1], "$"):
			continue // the form, or .env's variables
		case m[1] == "root" && !strings.Contains(m[0], ":"+m[2]+"@"):
			continue // root without a password: a test server's, for TEST_MYSQL_DSN
		}
		if pw, ok := users[m[1]]; !ok || m[2] != pw {
			t.Errorf("README: %s: want %s", m[0], fmt.Sprintf("mysql://%s:%s@ or mysql://root:%s@",
				values["MYSQL_USER"], values["MYSQL_PASSWORD"], values["MYSQL_ROOT_PASSWORD"]))
		}
	}
	if !strings.Contains(readme, "'"+values["MYSQL_USER"]+"'@") {
		t.Errorf("README: the SQL for a bare MySQL does not create the user %q of %s", values["MYSQL_USER"], envExample)
	}
}
