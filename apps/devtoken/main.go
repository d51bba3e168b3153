// Command devtoken prints an operator JWT signed with JWT_SECRET, for
// trying the APIs from a terminal:
//
//	export TOKEN=$(JWT_SECRET=... go run ./apps/devtoken -sub ops@example.com -ttl 1h)
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

func main() {
	sub := flag.String("sub", "dev@localhost", "the token's subject: who the operator is")
	ttl := flag.Duration("ttl", time.Hour, "how long the token is valid")
	flag.Parse()

	env := shell.NewEnv(nil)
	secret := env.Secret("JWT_SECRET", shell.MinSecretLen)
	if err := env.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if *ttl <= 0 {
		fmt.Fprintln(os.Stderr, "devtoken: -ttl must be positive")
		os.Exit(2)
	}
	tok, err := httpapi.MintJWT(secret, *sub, *ttl)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devtoken:", err)
		os.Exit(1)
	}
	fmt.Println(tok)
}
