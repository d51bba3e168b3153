# Every package of every module in the workspace; `go test ./...` does not
# cross module boundaries from the workspace root.
PKGS := ./core/... ./adapters/... ./apps/... ./apps/devstack/... ./testsuite/... ./migrations/...

# The contract and end-to-end suites need a MySQL server they may create
# databases on: TEST_MYSQL_DSN, or a Docker engine for testcontainers.
.PHONY: test
test: vet
	go test -race -count=1 -timeout 15m $(PKGS)

.PHONY: vet
vet:
	@test -z "$$(gofmt -l core adapters apps testsuite migrations)" || { gofmt -l core adapters apps testsuite migrations; echo "gofmt needed"; exit 1; }
	go vet $(PKGS)

.PHONY: build
build:
	CGO_ENABLED=0 go build -trimpath -o bin/ ./apps/customers-api ./apps/orders-api ./apps/orchestrator ./apps/devtoken

# The orchestrator's AWS Lambda package: dist/orchestrator.zip holding the one
# executable `bootstrap` for provided.al2023 on arm64. lambda.norpc leaves out
# the go1.x RPC runtime, which provided.al2023 never uses. build-lambda-zip
# (from aws-lambda-go) sets the executable bit without needing zip.
.PHONY: lambda
lambda:
	@mkdir -p dist
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -tags lambda.norpc -o dist/bootstrap ./apps/orchestrator
	go run github.com/aws/aws-lambda-go/cmd/build-lambda-zip -o dist/orchestrator.zip dist/bootstrap
