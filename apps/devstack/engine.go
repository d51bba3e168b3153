package main

import (
	"context"
	"net"
	"regexp"
	"strings"
	"sync"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/server"
	gmssql "github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
	"github.com/sirupsen/logrus"
)

// engine is an in-memory MySQL-compatible server inside this process.
//
// Its sessions are not safe to run side by side: two connections working at
// once, even on different databases, can lose rows from an index, and its
// SELECT … FOR UPDATE does not block. So the engine admits one transaction
// at a time, across all connections; see serialized. It also loses entries
// from non-unique secondary indexes when a transaction that inserted rows
// rolls back, after which lists read through such an index silently miss
// rows; so tables are created without those indexes, and the same queries
// scan and sort, which is exact and, at development sizes, fast enough.
type engine struct {
	srv  *server.Server
	addr string
}

// startEngine serves an empty engine on addr (host:port; port 0 picks one).
func startEngine(addr string) (*engine, error) {
	logrus.SetLevel(logrus.ErrorLevel)
	// Primary keys must be real indexes, or foreign keys cannot reference them.
	pro := memory.NewDBProvider()
	pro.WithOption(memory.NativeIndexProvider(true))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	cfg := server.Config{Protocol: "tcp", Address: ln.Addr().String(), Listener: ln}
	srv, err := server.NewServerWithHandler(cfg, sqle.NewDefault(pro), gmssql.NewContext, memory.NewSessionBuilder(pro), nil,
		func(h mysql.Handler) (mysql.Handler, error) { return newSerialized(h), nil })
	if err != nil {
		ln.Close()
		return nil, err
	}
	go srv.Start()
	return &engine{srv: srv, addr: ln.Addr().String()}, nil
}

// dsn is a go-sql-driver DSN for the engine's root user, naming no database.
func (e *engine) dsn() string { return "root@tcp(" + e.addr + ")/" }

func (e *engine) close() { e.srv.Close() }

// serialized runs one transaction at a time: a connection takes the engine
// for one autocommit statement, or from START TRANSACTION (or BEGIN) to
// COMMIT or ROLLBACK, and everyone else waits. Transactions are short and
// no service waits on another while it holds one, so waiting cannot cycle.
type serialized struct {
	mysql.Handler
	turn chan struct{}

	mu    sync.Mutex
	conns map[uint32]*connTurn
}

// connTurn is what serialized knows of one connection.
type connTurn struct {
	holds bool // it has the engine
	inTx  bool // it opened a transaction and has not ended it
}

func newSerialized(h mysql.Handler) *serialized {
	return &serialized{Handler: h, turn: make(chan struct{}, 1), conns: map[uint32]*connTurn{}}
}

func (s *serialized) conn(c *mysql.Conn) *connTurn {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.conns[c.ConnectionID]
	if !ok {
		t = &connTurn{}
		s.conns[c.ConnectionID] = t
	}
	return t
}

// run executes one statement of c inside c's turn, which ends with the
// statement unless a transaction is open.
func (s *serialized) run(ctx context.Context, c *mysql.Conn, query string, fn func() error) error {
	t := s.conn(c)
	if !t.holds {
		select {
		case s.turn <- struct{}{}:
			t.holds = true
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := fn()
	switch q := strings.ToUpper(strings.TrimSpace(query)); {
	case strings.HasPrefix(q, "START TRANSACTION"), q == "BEGIN", strings.HasPrefix(q, "BEGIN "):
		t.inTx = err == nil
	case strings.HasPrefix(q, "COMMIT"), strings.HasPrefix(q, "ROLLBACK"):
		t.inTx = false
	}
	if !t.inTx {
		t.holds = false
		<-s.turn
	}
	return err
}

func (s *serialized) ComQuery(ctx context.Context, c *mysql.Conn, query string, cb mysql.ResultSpoolFn) error {
	query = withoutSecondaryIndexes(query)
	return s.run(ctx, c, query, func() error { return s.Handler.ComQuery(ctx, c, query, cb) })
}

// secondaryIndex matches a non-unique index clause of CREATE TABLE, such as
// ", KEY ix_orders_created (created_at, id)"; UNIQUE keys are kept.
var secondaryIndex = regexp.MustCompile("(?i),\\s*(?:KEY|INDEX)\\s+`?\\w+`?\\s*\\([^)]*\\)")

// addedIndex matches a non-unique index an ALTER TABLE adds, such as
// ",\n ADD KEY ix_orders_status_expires (status, expires_at)"; a migration
// that checks information_schema first holds it in a string it prepares.
var addedIndex = regexp.MustCompile("(?i),\\s*ADD\\s+(?:KEY|INDEX)\\s+`?\\w+`?\\s*\\([^)]*\\)")

// withoutSecondaryIndexes strips the non-unique indexes from a CREATE TABLE,
// and from an ALTER TABLE that adds them with other changes.
func withoutSecondaryIndexes(query string) string {
	q := strings.ToUpper(strings.TrimSpace(stripSQLComments(query)))
	if strings.HasPrefix(q, "CREATE TABLE") {
		return secondaryIndex.ReplaceAllString(query, "")
	}
	if strings.Contains(q, "ALTER TABLE") {
		return addedIndex.ReplaceAllString(query, "")
	}
	return query
}

// stripSQLComments drops "--" comment lines, which migrations start with.
func stripSQLComments(q string) string {
	var b strings.Builder
	for _, line := range strings.Split(q, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func (s *serialized) ComMultiQuery(ctx context.Context, c *mysql.Conn, query string, cb mysql.ResultSpoolFn) (string, error) {
	query = withoutSecondaryIndexes(query)
	var rest string
	err := s.run(ctx, c, query, func() error {
		var err error
		rest, err = s.Handler.ComMultiQuery(ctx, c, query, cb)
		return err
	})
	return rest, err
}

func (s *serialized) ComPrepare(ctx context.Context, c *mysql.Conn, query string, p *mysql.PrepareData) ([]*querypb.Field, error) {
	var fields []*querypb.Field
	err := s.run(ctx, c, "PREPARE", func() error {
		var err error
		fields, err = s.Handler.ComPrepare(ctx, c, query, p)
		return err
	})
	return fields, err
}

func (s *serialized) ComStmtExecute(ctx context.Context, c *mysql.Conn, p *mysql.PrepareData, cb func(*sqltypes.Result) error) error {
	return s.run(ctx, c, p.PrepareStmt, func() error { return s.Handler.ComStmtExecute(ctx, c, p, cb) })
}

// ConnectionClosed gives the turn back when a client leaves in the middle
// of a transaction, which the engine then discards.
func (s *serialized) ConnectionClosed(c *mysql.Conn) {
	s.Handler.ConnectionClosed(c)
	s.mu.Lock()
	t := s.conns[c.ConnectionID]
	delete(s.conns, c.ConnectionID)
	s.mu.Unlock()
	if t != nil && t.holds {
		<-s.turn
	}
}
