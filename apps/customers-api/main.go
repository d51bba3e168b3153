// Command customers-api serves the customer directory over HTTP.
package main

import (
	"go.uber.org/fx"

	"github.com/b2borders/platform/apps/internal/customersapi"
	"github.com/b2borders/platform/apps/internal/shell"
)

func main() {
	shell.Main(customersapi.DefaultPort, func(env *shell.Env) fx.Option {
		log := shell.NewLogger(env)
		return customersapi.Module(customersapi.LoadConfig(env), log)
	})
}
