// Command customers-api serves the customer directory over HTTP.
package main

import (
	"go.uber.org/fx"

	"github.com/b2borders/platform/apps/wire/customersapi"
	"github.com/b2borders/platform/apps/wire/shell"
)

func main() {
	shell.Main(customersapi.DefaultPort, func(env *shell.Env) fx.Option {
		log := shell.NewLogger(env)
		return customersapi.Module(customersapi.LoadConfig(env), log)
	})
}
