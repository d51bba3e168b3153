package shell

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/fx"
)

// Every problem is reported at once, one line each, in the order read.
func TestEnvReportsEveryProblem(t *testing.T) {
	env := MapEnv(map[string]string{"PORT": "eighty", "JWT_SECRET": "short"})
	env.Port("PORT", 3000)
	env.Secret("JWT_SECRET", MinSecretLen)
	env.Secret("SERVICE_TOKEN", MinSecretLen)
	env.URL("CUSTOMERS_API_URL")
	want := []string{
		`config: PORT must be a port number from 0 to 65535, not "eighty"`,
		"config: JWT_SECRET must be at least 16 characters long",
		"config: SERVICE_TOKEN is required",
		"config: CUSTOMERS_API_URL is required",
	}
	if err := env.Err(); err == nil || err.Error() != strings.Join(want, "\n") {
		t.Fatalf("got\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
	if err := MapEnv(nil).Err(); err != nil {
		t.Fatalf("no problem: %v", err)
	}
}

// A constructor's error reaches the operator as the service's name and the
// cause, on one line, without fx's chain of constructors.
func TestStartFailureIsTheCause(t *testing.T) {
	cause := errors.New("database 127.0.0.1:3306: connection refused")
	app := fx.New(
		fx.NopLogger,
		fx.Provide(func() (fmt.Stringer, error) { return nil, cause }),
		fx.Invoke(func(fmt.Stringer) {}),
	)
	if app.Err() == nil {
		t.Fatal("the app was built")
	}
	if got, want := StartFailure("orders-api", app.Err()), "orders-api: "+cause.Error(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
