SHELL := bash

# Every package of every module in the workspace; `go test ./...` does not
# cross module boundaries from the workspace root.
PKGS := ./core/... ./adapters/... ./apps/... ./apps/devstack/... ./testsuite/... ./migrations/...

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk -F':.*## ' '/^[a-z][a-z-]*:.*## /{printf "  make %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The tests run through testrun (testsuite/testrun). It picks the database:
# TEST_MYSQL_DSN when set (a server that does not answer within 1s stops the
# run at once), else mysql:8.4 containers when a Docker engine answers, else
# the dev stack's embedded engine, which it starts. Its first line says
# which; its last lines say what ran where, and name every test that needs a
# real MySQL server and was skipped on the embedded engine. After a real
# server, the end-to-end and orchestrator suites run again on the embedded
# engine, as the dev stack serves it (one transaction at a time, no
# secondary indexes).
TESTRUN := bin/testrun
AGAIN := ./testsuite/e2e/ ./testsuite/orchestrator/

.PHONY: test
test: testrun ## vet, fuzz, then every test: on TEST_MYSQL_DSN, Docker or the embedded engine
	@$(TESTRUN) -database
	@$(MAKE) --no-print-directory vet
	@$(MAKE) --no-print-directory fuzz
	@$(TESTRUN) -again '$(AGAIN)' $(PKGS)

# The runner itself, built quietly so that its first line is the run's.
.PHONY: testrun
testrun:
	@mkdir -p bin; go build -o $(TESTRUN) ./testsuite/testrun 2>bin/testrun.log || { cat bin/testrun.log; exit 1; }

.PHONY: test-devstack
test-devstack: testrun ## the end-to-end and orchestrator suites on the embedded engine
	@$(TESTRUN) -name 'make test-devstack' -engine $(AGAIN)

# Every fuzz target of the request body readers, FUZZTIME each (go test
# -fuzz takes one target at a time). Plain `go test` runs their seed corpus,
# adapters/httpapi/testdata/fuzz, where an input that once failed is kept.
FUZZTIME ?= 5s
.PHONY: fuzz
fuzz: ## fuzz each request body reader for FUZZTIME (5s)
	@for f in $$(go test -list '^Fuzz' ./adapters/httpapi/ | grep '^Fuzz'); do \
		echo "fuzz $$f for $(FUZZTIME)"; \
		go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./adapters/httpapi/ || exit 1; \
	done

# The contract, end-to-end, orchestrator and events suites again, on a MariaDB with
# InnoDB snapshot isolation on (the default from MariaDB 11.6): there a
# transaction that touches a row changed since its snapshot was taken fails
# (ER_CHECKREAD, "Record has changed since last read") instead of going on.
# Needs such a server at TEST_MYSQL_DSN_SNAPSHOT; testsuite/mariadb-snapshot.sh
# starts one on 127.0.0.1:3307, with the user of the default DSN, and checks
# that @@innodb_snapshot_isolation is 1.
TEST_MYSQL_DSN_SNAPSHOT ?= orders_test:orders_test@tcp(127.0.0.1:3307)/
.PHONY: test-snapshot
test-snapshot: testrun ## the contract, e2e, orchestrator and events suites on a MariaDB with snapshot isolation
	@TEST_MYSQL_DSN='$(TEST_MYSQL_DSN_SNAPSHOT)' $(TESTRUN) -name 'make test-snapshot' -timeout 10m ./testsuite/contract/ ./testsuite/e2e/ ./testsuite/orchestrator/ ./testsuite/webhooks/

# On a 3-node MariaDB Galera cluster that testsuite/galera/cluster.sh starts
# on this machine (SQL on 127.0.0.1:3311-3313, files in /var/tmp/orders-galera;
# it installs galera-4 and rsync when missing) and stops afterwards, one run
# per machine at a time: the contract and end-to-end suites with
# TEST_MYSQL_DSN on node 1 and their extra orders-api replicas on nodes 2 and
# 3 (TEST_MYSQL_NODES), then the Galera suite (testsuite/galera, build tag
# galera: replicas on different nodes, conflicts, a node killed and cut off).
# The test binaries are built first, outside the cluster's turn.
GALERA_DSN := orders_test:orders_test@tcp(127.0.0.1:3311)/
GALERA_NODES := 127.0.0.1:3312,127.0.0.1:3313
GALERA_PKGS := ./testsuite/contract/ ./testsuite/e2e/
.PHONY: test-galera galera-suites
test-galera: ## contract, e2e and Galera suites on a 3-node Galera cluster it starts on this machine
	go vet -tags galera ./testsuite/galera/
	go test -tags galera -race -exec true $(GALERA_PKGS) ./testsuite/galera/ >/dev/null
	testsuite/galera/cluster.sh run $(MAKE) --no-print-directory galera-suites

galera-suites:
	TEST_MYSQL_DSN='$(GALERA_DSN)' TEST_MYSQL_NODES=$(GALERA_NODES) go test -race -count=1 -timeout 10m $(GALERA_PKGS)
	TEST_MYSQL_DSN='$(GALERA_DSN)' go test -tags galera -race -count=1 -timeout 10m ./testsuite/galera/

# Beyond gofmt and go vet, three checks on what the modules declare and what
# the binaries link:
#  - every module's go.mod and go.sum are what `go mod tidy` makes of them;
#  - every command links, in the workspace, the module versions its own
#    module's go.mod selects on its own (GOWORK=off): the workspace builds
#    with the highest version any of its modules asks for, so a test-only
#    module (testsuite) must not raise what a shipped binary links; when it
#    does, raise the requirement of the command's module to match;
#  - the orchestrator links no database driver and no migrations.
LINKED = go list -deps -f '{{with .Module}}{{.Path}} {{.Version}}{{end}}'
.PHONY: vet
vet: ## gofmt, go vet, tidy modules, what each binary links
	@test -z "$$(gofmt -l core adapters apps testsuite migrations)" || { gofmt -l core adapters apps testsuite migrations; echo "gofmt needed"; exit 1; }
	go vet $(PKGS)
	@for dir in $$(go list -m -f '{{.Dir}}'); do \
		(cd $$dir && go mod tidy -diff) || { echo "$$dir: go.mod or go.sum is not tidy; run go mod tidy there"; exit 1; }; \
	done
	@linked() { $(LINKED) "$$1" | grep -v '^github.com/b2borders/platform/' | sort -u; }; \
	cmds=$$(go list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' $(PKGS)) || exit 1; \
	for cmd in $$cmds; do \
		dir=$$(go list -f '{{.Module.Dir}}' $$cmd) || exit 1; \
		diff <(cd $$dir && GOWORK=off linked $$cmd) <(linked $$cmd) || { \
			echo "$$cmd links other module versions in the workspace (>) than its module $$dir selects (<): raise that module's requirements"; exit 1; }; \
	done
	@deps=$$(go list -deps -tags lambda.norpc ./apps/orchestrator) || exit 1; \
	if grep -E '^github.com/(go-sql-driver/mysql|golang-migrate/migrate)' <<<"$$deps"; then \
		echo "apps/orchestrator links the packages above: a database driver or migrations"; exit 1; fi

.PHONY: build
build: ## the service binaries into bin/
	CGO_ENABLED=0 go build -trimpath -o bin/ ./apps/customers-api ./apps/orders-api ./apps/orchestrator ./apps/devtoken

# The orchestrator's AWS Lambda package: dist/orchestrator.zip holding the one
# executable `bootstrap` for provided.al2023 on arm64. lambda.norpc leaves out
# the go1.x RPC runtime, which provided.al2023 never uses. build-lambda-zip
# (from aws-lambda-go) sets the executable bit without needing zip.
.PHONY: lambda
lambda: ## dist/orchestrator.zip, the AWS Lambda package
	@mkdir -p dist
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -tags lambda.norpc -o dist/bootstrap ./apps/orchestrator
	go run github.com/aws/aws-lambda-go/cmd/build-lambda-zip -o dist/orchestrator.zip dist/bootstrap

# The services on this machine with `go run`, each in a terminal of its own,
# configured by .env (cp .env.example .env), the file and names docker
# compose reads, on the MySQL that docker-compose.dev.yml publishes on
# 127.0.0.1:MYSQL_PORT.
ENV_FILE ?= .env
WITH_ENV = test -f $(ENV_FILE) || { echo "$(ENV_FILE) is missing: cp .env.example $(ENV_FILE)" >&2; exit 2; }; \
	set -a; . "$(abspath $(ENV_FILE))"; set +a;
MYSQL_URL = mysql://$${MYSQL_USER}:$${MYSQL_PASSWORD}@127.0.0.1:$${MYSQL_PORT}

.PHONY: run-customers-api run-orders-api run-orchestrator token
run-customers-api: ## customers-api with go run, configured by .env
	@$(WITH_ENV) PORT=$$CUSTOMERS_PORT DATABASE_URL=$(MYSQL_URL)/customers_db exec go run ./apps/customers-api

run-orders-api: ## orders-api with go run, configured by .env
	@$(WITH_ENV) PORT=$$ORDERS_PORT DATABASE_URL=$(MYSQL_URL)/orders_db \
	CUSTOMERS_API_URL=http://localhost:$$CUSTOMERS_PORT exec go run ./apps/orders-api

run-orchestrator: ## the orchestrator's local HTTP shell with go run, configured by .env
	@$(WITH_ENV) PORT=$$ORCHESTRATOR_PORT CUSTOMERS_API_URL=http://localhost:$$CUSTOMERS_PORT \
	ORDERS_API_URL=http://localhost:$$ORDERS_PORT exec go run ./apps/orchestrator

token: ## print an operator JWT signed with the JWT_SECRET of .env
	@$(WITH_ENV) exec go run ./apps/devtoken -sub ops@example.com -ttl 8h
