package shell

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/dig"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
)

// StartFailure is the one line a shell prints when its app cannot be built
// or started: the service's name and the cause, as in
// "orders-api: database 127.0.0.1:3306: connection refused", without the
// chain of constructors fx wraps it in.
func StartFailure(name string, err error) string {
	return name + ": " + strings.TrimSpace(dig.RootCause(err).Error())
}

// ServiceName is the name of the running binary: the service's, whether it
// runs as a built binary, in an image or with go run.
func ServiceName() string {
	return strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe")
}

// run starts app, failing with one line when it cannot, waits for SIGINT or
// SIGTERM and stops it.
func run(name string, app *fx.App) {
	ctx, cancel := context.WithTimeout(context.Background(), app.StartTimeout())
	err := app.Start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, StartFailure(name, err))
		os.Exit(1)
	}
	sig := <-app.Wait()
	ctx, cancel = context.WithTimeout(context.Background(), app.StopTimeout())
	defer cancel()
	if err := app.Stop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, name+": stop:", err)
		os.Exit(1)
	}
	os.Exit(sig.ExitCode)
}

// startErrorsAtDebug logs at debug level the events whose error is the one
// that fails the app's build or start, which the shell reports itself in
// one line; every other event goes to logger as it is.
type startErrorsAtDebug struct {
	logger, quiet fxevent.Logger
}

func (l startErrorsAtDebug) LogEvent(e fxevent.Event) {
	switch e.(type) {
	case *fxevent.Provided, *fxevent.Supplied, *fxevent.Decorated, *fxevent.Replaced,
		*fxevent.Invoked, *fxevent.Run, *fxevent.OnStartExecuted, *fxevent.Started, *fxevent.RollingBack:
		l.quiet.LogEvent(e)
	default:
		l.logger.LogEvent(e)
	}
}
