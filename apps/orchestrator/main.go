// Command orchestrator places and confirms orders across customers-api and
// orders-api. Where AWS_LAMBDA_RUNTIME_API is set it is an AWS Lambda
// function (the provided.al2023 runtime runs this binary as `bootstrap`)
// serving API Gateway HTTP API events; elsewhere it is an HTTP server on
// PORT (3000). Both serve one handler.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"go.uber.org/fx"

	"github.com/b2borders/platform/apps/wire/orchestrator"
	"github.com/b2borders/platform/apps/wire/shell"
)

func main() {
	if _, ok := os.LookupEnv("AWS_LAMBDA_RUNTIME_API"); ok {
		runLambda()
		return
	}
	shell.Main(orchestrator.DefaultPort, func(env *shell.Env) fx.Option {
		log := shell.NewLogger(env)
		return orchestrator.Module(orchestrator.LoadConfig(env), log)
	})
}

// runLambda starts the app once per execution environment, then serves
// invocations until the environment is shut down.
func runLambda() {
	env := shell.NewEnv(nil)
	log := shell.NewLogger(env)
	cfg := orchestrator.LoadConfig(env)
	if err := env.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fn, err := orchestrator.StartLambda(context.Background(), cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, shell.StartFailure("orchestrator", err))
		os.Exit(1)
	}
	lambda.Start(fn)
}
