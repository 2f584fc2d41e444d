// Command counter is the HTTP counter of the original library, in Go: every
// request increments the field "calls" of a scope and answers "There have
// been N requests.", atomically across every goroutine, process and machine
// that shares the store.
//
//	go run ./examples/counter          # state in $TMPDIR/scoped-counter; sends itself 100 requests, prints the count
//	go run ./examples/counter -serve   # serves on 127.0.0.1:8080 until SIGTERM or SIGINT
//	go run ./examples/counter -serve -store redis://127.0.0.1:6379/0
//	go run ./examples/counter -serve -store 'root@tcp(127.0.0.1:3306)/test' -mysql-pool 16
//
// Routes: GET / counts in the scope PREFIX+"global"; GET /?user=NAME in the
// scope PREFIX+"user:"+NAME, where PREFIX is -prefix (empty by default). A
// name that scoped.ValidateName refuses (or an empty or repeated user) is a
// 400 that does not repeat it. GET /healthz answers while the process runs,
// GET /readyz once the store answers a read. GET /metrics exports, in
// Prometheus's text format, the engine's calls as extra/scopedotel records
// them (scoped_calls_total by kind and outcome, durations, conflicts, store
// calls; never scope names) and the Go runtime's and the process's metrics
// (go_*, process_*). Other paths are 404, other methods 405; neither touches
// a scope. Every request is logged with log/slog on stderr.
//
// Every flag can be set by an environment variable, the flag winning:
//
//	-addr        SCOPED_ADDR        listen address (127.0.0.1:8080 with -serve, a free port otherwise)
//	-store       SCOPED_STORE       redis:// or rediss:// URL, MySQL DSN (or mysql://DSN), file:DIR or DIR
//	-mysql-pool  SCOPED_MYSQL_POOL  most MySQL or PostgreSQL connections open at once (16)
//	-prefix      SCOPED_PREFIX      prefix of every scope name
//	-log-level   SCOPED_LOG_LEVEL   debug, info, warn or error (info with -serve, warn otherwise)
//
// On SIGTERM or SIGINT the server stops accepting connections and drains for
// up to -drain (1s): /readyz fails and every response closes its connection,
// so that clients leave rather than have a connection closed under a request
// they are sending. It then finishes the requests in flight
// (http.Server.Shutdown, for up to -shutdown-timeout), closes the engine and
// exits 0; 1 if the requests or the engine outlived the timeout. A second
// signal ends it at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/scoped-go/scoped"
)

// config is the command's configuration, from flags and the environment.
type config struct {
	addr            string
	store           string
	mysqlPool       int
	prefix          string
	logLevel        string
	serve           bool
	shutdownTimeout time.Duration
	drain           time.Duration
	requests        int
	clients         int
}

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process at once
	}()
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "counter:", err)
		os.Exit(1)
	}
}

// parseConfig reads the flags in args over the environment's defaults.
func parseConfig(args []string, getenv func(string) string) (config, error) {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	pool, err := strconv.Atoi(env("SCOPED_MYSQL_POOL", "16"))
	if err != nil {
		return config{}, fmt.Errorf("$SCOPED_MYSQL_POOL: %v", err)
	}
	var cfg config
	fs := flag.NewFlagSet("counter", flag.ContinueOnError)
	fs.StringVar(&cfg.addr, "addr", getenv("SCOPED_ADDR"), "address to listen on (default 127.0.0.1:8080 with -serve, a free port otherwise) ($SCOPED_ADDR)")
	fs.StringVar(&cfg.store, "store", env("SCOPED_STORE", filepath.Join(os.TempDir(), "scoped-counter")),
		"where the state lives: redis:// or rediss:// URL, MySQL DSN, file:DIR or DIR ($SCOPED_STORE)")
	fs.IntVar(&cfg.mysqlPool, "mysql-pool", pool, "most connections of the MySQL or PostgreSQL pool ($SCOPED_MYSQL_POOL)")
	fs.StringVar(&cfg.prefix, "prefix", getenv("SCOPED_PREFIX"), "prefix of every scope name ($SCOPED_PREFIX)")
	fs.StringVar(&cfg.logLevel, "log-level", getenv("SCOPED_LOG_LEVEL"), "debug, info, warn or error (default info with -serve, warn otherwise) ($SCOPED_LOG_LEVEL)")
	fs.BoolVar(&cfg.serve, "serve", false, "keep serving instead of sending test requests and exiting")
	fs.DurationVar(&cfg.drain, "drain", time.Second, "after SIGTERM, how long open connections may take to close after their next response")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 20*time.Second, "how long requests in flight may take after SIGTERM")
	fs.IntVar(&cfg.requests, "requests", 100, "test requests to send, without -serve")
	fs.IntVar(&cfg.clients, "clients", 10, "concurrent test clients, without -serve")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.addr == "" {
		cfg.addr = "127.0.0.1:0"
		if cfg.serve {
			cfg.addr = "127.0.0.1:8080"
		}
	}
	if cfg.logLevel == "" {
		cfg.logLevel = "warn"
		if cfg.serve {
			cfg.logLevel = "info"
		}
	}
	return cfg, nil
}

// run opens the store and serves the counter on cfg.addr, printing its URL
// on stdout. With cfg.serve it serves until ctx ends, then shuts down;
// otherwise it sends itself the test requests and returns.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) (err error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return fmt.Errorf("-log-level: %v", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	st, err := openStore(ctx, cfg.store, cfg.mysqlPool)
	if err != nil {
		return err
	}
	m, err := newMetrics()
	if err != nil {
		st.close()
		return err
	}
	e := scoped.New(st.store, scoped.WithHooks(m.hooks))
	defer func() {
		// The engine first: it waits for its writes in flight.
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
		defer cancel()
		if cerr := e.Close(closeCtx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing the engine: %w", cerr))
		}
		st.close()
		m.provider.Shutdown(closeCtx)
	}()

	l, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	ln := &onceCloser{Listener: l}
	c := &counter{e: e, prefix: cfg.prefix, log: log, metrics: m.handler}
	srv := newServer(c)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String() + "/"
	fmt.Fprintf(stdout, "store: %s\nserving %s\n", st.describe, url)
	log.Info("serving", "url", url, "store", st.describe, "prefix", cfg.prefix)

	if !cfg.serve {
		err := selfTest(ctx, url, cfg.requests, cfg.clients, stdout)
		srv.Close()
		return err
	}
	select {
	case err := <-served:
		return err // the listener failed
	case <-ctx.Done():
	}
	return shutdown(srv, ln, c, cfg.drain, cfg.shutdownTimeout)
}
