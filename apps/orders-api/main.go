// Command orders-api serves the product catalogue and the orders over HTTP.
package main

import (
	"go.uber.org/fx"

	"github.com/b2borders/platform/apps/wire/ordersapi"
	"github.com/b2borders/platform/apps/wire/shell"
)

func main() {
	shell.Main(ordersapi.DefaultPort, func(env *shell.Env) fx.Option {
		log := shell.NewLogger(env)
		return ordersapi.Module(ordersapi.LoadConfig(env), log)
	})
}
