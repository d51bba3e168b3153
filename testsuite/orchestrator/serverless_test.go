package orchestrator_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/b2borders/platform/adapters/httpapi"
	wire "github.com/b2borders/platform/apps/wire/orchestrator"
	"github.com/b2borders/platform/apps/wire/shell"
)

// serverlessFile is the Serverless Framework service of the orchestrator,
// relative to this package.
const serverlessFile = "../../apps/orchestrator/serverless.yml"

type serverless struct {
	Service  string `yaml:"service"`
	Provider struct {
		Name         string            `yaml:"name"`
		Runtime      string            `yaml:"runtime"`
		Architecture string            `yaml:"architecture"`
		Timeout      int               `yaml:"timeout"`
		Environment  map[string]string `yaml:"environment"`
		HTTPAPI      struct {
			Payload string `yaml:"payload"`
		} `yaml:"httpApi"`
	} `yaml:"provider"`
	Params    map[string]map[string]string `yaml:"params"`
	Functions map[string]struct {
		Handler string `yaml:"handler"`
		Package struct {
			Artifact string `yaml:"artifact"`
		} `yaml:"package"`
		Events []struct {
			HTTPAPI *struct {
				Method string `yaml:"method"`
				Path   string `yaml:"path"`
			} `yaml:"httpApi"`
		} `yaml:"events"`
	} `yaml:"functions"`
}

func TestServerlessDeploysTheLambdaBuild(t *testing.T) {
	b, err := os.ReadFile(serverlessFile)
	if err != nil {
		t.Fatal(err)
	}
	var s serverless
	if err := yaml.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", serverlessFile, err)
	}
	p := s.Provider
	if s.Service == "" || p.Name != "aws" || p.Runtime != "provided.al2023" || p.Architecture != "arm64" || p.HTTPAPI.Payload != "2.0" {
		t.Errorf("service %q provider %+v: want aws, provided.al2023, arm64, HTTP API payload 2.0", s.Service, p)
	}
	if p.Timeout < 3 || p.Timeout > 29 {
		t.Errorf("timeout %d s: want room for the calls, and under the HTTP API's 30 s", p.Timeout)
	}
	if len(s.Functions) != 1 {
		t.Fatalf("%d functions, want the orchestrator alone", len(s.Functions))
	}
	for name, f := range s.Functions {
		if f.Handler != "bootstrap" {
			t.Errorf("%s: handler %q, want bootstrap", name, f.Handler)
		}
		root, _ := filepath.Abs("../..")
		artifact, _ := filepath.Abs(filepath.Join(filepath.Dir(serverlessFile), f.Package.Artifact))
		if artifact != filepath.Join(root, "dist", "orchestrator.zip") {
			t.Errorf("%s: artifact %s, want the repository's dist/orchestrator.zip that make lambda builds", name, f.Package.Artifact)
		}
		var routes []string
		for _, e := range f.Events {
			if e.HTTPAPI != nil {
				routes = append(routes, e.HTTPAPI.Method+" "+e.HTTPAPI.Path)
			}
		}
		slices.Sort(routes)
		want := []string{"POST " + httpapi.OrchestrateAliasPath, "POST " + httpapi.OrchestratePath}
		slices.Sort(want)
		if !slices.Equal(routes, want) {
			t.Errorf("%s: httpApi routes %v, want %v", name, routes, want)
		}
	}

	// Every variable the function needs is set, from a stage parameter, and
	// every parameter comes from the environment or SSM, never inline.
	reference := regexp.MustCompile(`^\$\{param:[A-Za-z]+\}$`)
	vars := map[string]string{}
	for k, v := range p.Environment {
		if !reference.MatchString(v) {
			t.Errorf("environment %s = %q, want a ${param:…} reference", k, v)
		}
		vars[k] = "https://example.com/0123456789abcdef"
	}
	vars["LOG_LEVEL"] = "info"
	env := shell.MapEnv(vars)
	wire.LoadConfig(env)
	if err := env.Err(); err != nil {
		t.Errorf("with the environment serverless.yml sets, the orchestrator would not start: %v", err)
	}
	source := regexp.MustCompile(`^\$\{(env|ssm):[^}]+\}$`)
	for stage, params := range s.Params {
		for k, v := range params {
			if k != "logLevel" && !source.MatchString(v) {
				t.Errorf("params.%s.%s = %q, want ${env:…} or ${ssm:…}", stage, k, v)
			}
		}
	}
}
