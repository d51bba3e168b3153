package httpapi

import "go.uber.org/fx"

// Module provides bearer-token auth from an AuthConfig and the handlers of
// every area; an application mounts the ones it serves with NewHandler.
var Module = fx.Module("httpapi",
	fx.Provide(
		NewAuth,
		NewCursorCodec,
		NewCustomerHandler,
		NewProductHandler,
		NewOrderHandler,
		NewEventHandler,
	),
)
