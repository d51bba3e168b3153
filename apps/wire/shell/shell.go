package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/b2borders/platform/adapters/tracing"
)

// MinSecretLen is the shortest JWT_SECRET or SERVICE_TOKEN a shell accepts.
const MinSecretLen = 16

// NewLogger returns a JSON logger at the level LOG_LEVEL names and makes it
// the process default, which the HTTP adapter logs unexpected failures to.
// A line logged inside a traced request carries its trace_id and span_id.
func NewLogger(env *Env) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(env.String("LOG_LEVEL", "info"))); err != nil {
		env.fail("LOG_LEVEL", "must be one of debug, info, warn, error")
	}
	log := JSONLogger(os.Stderr, level)
	slog.SetDefault(log)
	return log
}

// JSONLogger is the shells' logger: JSON lines on w at level, each line
// logged inside a span stamped with its trace_id and span_id.
func JSONLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(tracing.NewLogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})))
}

// FxLogger keeps fx's own events at debug level, errors aside; an error
// that fails the app's build or start stays at debug level too, since the
// shell reports it in one line (StartFailure).
func FxLogger(log *slog.Logger) fxevent.Logger {
	l := &fxevent.SlogLogger{Logger: log}
	l.UseLogLevel(slog.LevelDebug)
	l.UseErrorLevel(slog.LevelError)
	quiet := &fxevent.SlogLogger{Logger: log}
	quiet.UseLogLevel(slog.LevelDebug)
	quiet.UseErrorLevel(slog.LevelDebug)
	return startErrorsAtDebug{logger: l, quiet: quiet}
}

// Server is a service's HTTP server.
type Server struct {
	Name string
	addr string
	srv  *http.Server

	mu sync.Mutex
	// fresh holds connections that have not sent a request yet. Clients
	// dial spare connections under load; Shutdown would wait five seconds
	// for each before it counts it idle, so they are closed at once.
	fresh map[net.Conn]struct{}
}

func (s *Server) trackState(c net.Conn, state http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if state == http.StateNew {
		s.fresh[c] = struct{}{}
	} else {
		delete(s.fresh, c)
	}
}

// shutdown drains in-flight requests after dropping connections that have
// none.
func (s *Server) shutdown(ctx context.Context) error {
	s.srv.SetKeepAlivesEnabled(false)
	s.mu.Lock()
	for c := range s.fresh {
		c.Close()
	}
	s.mu.Unlock()
	return s.srv.Shutdown(ctx)
}

// Addr returns the address the server listens on, once the app started.
func (s *Server) Addr() string { return s.addr }

// MaxHeaderBytes bounds a request's line and headers together; a larger
// request head is answered 431 by net/http before any handler runs. A
// bearer token and the request-id headers need a few KiB at most.
const MaxHeaderBytes = 64 << 10

// ServerConfig names a server and the port it binds.
type ServerConfig struct {
	Name string
	Port int
}

// NewServer serves h on the configured port for the app's lifetime: the
// port is bound at start, so a taken port fails the start, and in-flight
// requests are drained at stop.
func NewServer(lc fx.Lifecycle, log *slog.Logger, cfg ServerConfig, h http.Handler) *Server {
	s := &Server{
		Name:  cfg.Name,
		fresh: map[net.Conn]struct{}{},
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
	}
	s.srv.ConnState = s.trackState
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			ln, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.Port))
			if err != nil {
				return err
			}
			s.addr = ln.Addr().String()
			log.Info("listening", "addr", s.addr)
			go func() {
				if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("server stopped", "error", err.Error())
				}
			}()
			return nil
		},
		OnStop: s.shutdown,
	})
	return s
}

// Main runs a shell: "healthcheck" as the first argument probes a running
// instance's /health and exits; otherwise the app is built from the
// environment and runs until SIGINT or SIGTERM. Every configuration problem
// is reported at once, one line each; a failure to start is one line with
// its cause.
func Main(defaultPort int, build func(env *Env) fx.Option) {
	env := NewEnv(nil)
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(Healthcheck(env.Port("PORT", defaultPort)))
	}
	opts := build(env)
	if err := env.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	name := ServiceName()
	app := fx.New(opts)
	if err := app.Err(); err != nil {
		fmt.Fprintln(os.Stderr, StartFailure(name, err))
		os.Exit(1)
	}
	run(name, app)
}

// Healthcheck asks the local instance's /health and returns an exit code.
func Healthcheck(port int) int {
	c := http.Client{Timeout: 3 * time.Second}
	res, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/health", port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "unhealthy:", err)
		return 1
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "unhealthy: status", res.StatusCode)
		return 1
	}
	return 0
}
