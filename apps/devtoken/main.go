// Command devtoken prints an operator JWT signed with JWT_SECRET, for
// trying the APIs from a terminal:
//
//	TOKEN=$(go run ./apps/devtoken -sub ops@example.com -ttl 1h) && export TOKEN
//	curl -H "Authorization: Bearer $TOKEN" localhost:3001/customers
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/apps/wire/shell"
)

const usage = `Usage: devtoken [-sub SUBJECT] [-ttl DURATION]

Prints an operator JWT (HS256, with exp) that the services accept, on one line.
It is signed with JWT_SECRET from the environment, which must be the secret the
services run with (at least %d characters): .env's for docker compose and
make run-*, or the dev stack's default, dev-jwt-secret-change-me-0123456789.

  TOKEN=$(JWT_SECRET=... go run ./apps/devtoken -sub ops@example.com -ttl 8h) && export TOKEN
  TOKEN=$(make -s token) && export TOKEN          # with JWT_SECRET from .env

Without JWT_SECRET it prints nothing on stdout and exits 2.

Flags:
`

func main() {
	flags := flag.NewFlagSet("devtoken", flag.ExitOnError)
	sub := flags.String("sub", "dev@localhost", "the token's subject: who the operator is")
	ttl := flags.Duration("ttl", time.Hour, "how long the token is valid, such as 30m or 8h")
	flags.Usage = func() {
		fmt.Fprintf(flags.Output(), usage, shell.MinSecretLen)
		flags.PrintDefaults()
	}
	flags.Parse(os.Args[1:])
	if flags.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "devtoken: unexpected argument %q; it takes only -sub and -ttl (devtoken -h)\n", flags.Arg(0))
		os.Exit(2)
	}
	if *ttl <= 0 {
		fmt.Fprintln(os.Stderr, "devtoken: -ttl must be positive")
		os.Exit(2)
	}

	env := shell.NewEnv(nil)
	secret := env.Secret("JWT_SECRET", shell.MinSecretLen)
	if err := env.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "devtoken: %v: export the secret the services run with (devtoken -h)\n", err)
		os.Exit(2)
	}
	tok, err := httpapi.MintJWT(secret, *sub, *ttl)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devtoken:", err)
		os.Exit(1)
	}
	fmt.Println(tok)
}
