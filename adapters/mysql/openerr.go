package mysql

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/go-sql-driver/mysql"
)

// OpenError is why a service could not open its database at start, put for
// whoever starts it: the server's address and the cause, and, when a
// database or a grant is missing, the statement that creates it.
type OpenError struct {
	Addr string // host:port
	DB   string
	User string
	Err  error
}

// NewOpenError describes err, a failure to open the database of dsn.
func NewOpenError(dsn string, err error) error {
	var oe *OpenError
	if errors.As(err, &oe) {
		return err
	}
	cfg, perr := ParseServerDSN(dsn)
	if perr != nil {
		return err
	}
	return &OpenError{Addr: cfg.Addr, DB: cfg.DBName, User: cfg.User, Err: err}
}

func (e *OpenError) Unwrap() error { return e.Err }

func (e *OpenError) Error() string {
	at := "database " + e.Addr
	var (
		me  *mysql.MySQLError
		dns *net.DNSError
	)
	switch {
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		return at + ": connection refused"
	case errors.As(e.Err, &dns):
		return at + ": no such host"
	case errors.Is(e.Err, context.DeadlineExceeded), isTimeout(e.Err):
		return at + ": no answer in time"
	case errors.As(e.Err, &me) && me.Number == 1049: // ER_BAD_DB_ERROR
		return fmt.Sprintf("%s has no database %s: create it with "+
			"CREATE DATABASE `%s` CHARACTER SET utf8mb4; and let the user have it: GRANT ALL PRIVILEGES ON `%s`.* TO '%s'@'%%';",
			at, e.DB, e.DB, e.DB, e.User)
	case errors.As(e.Err, &me) && me.Number == 1044: // ER_DBACCESS_DENIED_ERROR
		return fmt.Sprintf("%s: %s: GRANT ALL PRIVILEGES ON `%s`.* TO '%s'@'%%';", at, me.Message, e.DB, e.User)
	case errors.As(e.Err, &me) && me.Number == 1045: // ER_ACCESS_DENIED_ERROR
		return fmt.Sprintf("%s: %s: check the user and password of DATABASE_URL, and that the server has that user "+
			"for the host it names here (README: Running the services on a MySQL of your own)", at, me.Message)
	}
	return at + ": " + e.Err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
