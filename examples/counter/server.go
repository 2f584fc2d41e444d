package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scoped-go/scoped"
)

// Timeouts of the server. A count gets requestTimeout, within writeTimeout.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 15 * time.Second
	idleTimeout       = 60 * time.Second
	requestTimeout    = 10 * time.Second
	readyTimeout      = 2 * time.Second
)

// counter serves the counts of one engine. Scope names are prefix + "global"
// for GET / and prefix + "user:" + NAME for GET /?user=NAME.
type counter struct {
	e        *scoped.Engine
	prefix   string
	log      *slog.Logger
	metrics  http.Handler // GET /metrics
	draining atomic.Bool  // set on SIGTERM: /readyz fails, connections close
	conns    atomic.Int64 // connections open
}

// newServer returns the server of the counter, its timeouts set.
func newServer(c *counter) *http.Server {
	return &http.Server{
		Handler:           c.logRequests(c),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelWarn),
		ConnState: func(_ net.Conn, state http.ConnState) {
			switch state {
			case http.StateNew:
				c.conns.Add(1)
			case http.StateClosed, http.StateHijacked:
				c.conns.Add(-1)
			}
		},
	}
}

// ServeHTTP routes: / counts, /healthz and /readyz report, /metrics
// exports; every other path is a 404 and every other method a 405, before
// any scope is touched.
func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c.draining.Load() {
		w.Header().Set("Connection", "close")
	}
	var h http.HandlerFunc
	allow := http.MethodGet
	switch r.URL.Path {
	case "/":
		h = c.count
	case "/healthz":
		h, allow = c.healthz, "GET, HEAD"
	case "/readyz":
		h, allow = c.readyz, "GET, HEAD"
	case "/metrics":
		h = c.metrics.ServeHTTP
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && (allow == http.MethodGet || r.Method != http.MethodHead) {
		w.Header().Set("Allow", allow)
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	h(w, r)
}

// scopeName returns the scope that r counts in, or false if the request
// names no valid user.
func (c *counter) scopeName(r *http.Request) (string, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", false
	}
	users, ok := q["user"]
	if !ok {
		return c.prefix + "global", true
	}
	if len(users) != 1 || users[0] == "" {
		return "", false
	}
	name := c.prefix + "user:" + users[0]
	return name, scoped.ValidateName(name) == nil
}

// count increments the calls of the request's scope and says how many there
// have been.
func (c *counter) count(w http.ResponseWriter, r *http.Request) {
	name, ok := c.scopeName(r)
	if !ok {
		// The input is not repeated: it may be anything.
		http.Error(w, "invalid query or user name: want at most one non-empty ?user= of UTF-8, no NUL, within 512 bytes with the prefix", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	calls, err := scoped.Run(ctx, c.e, name, func(s *scoped.Scope) (int, error) {
		calls, err := scoped.Get[int](s, "calls")
		if err != nil {
			return 0, err
		}
		calls++
		return calls, s.Set("calls", calls)
	})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	fmt.Fprint(w, sentence(calls))
}

// sentence is the original library's answer.
func sentence(calls int) string {
	if calls == 1 {
		return "There have been 1 request.\n"
	}
	return fmt.Sprintf("There have been %d requests.\n", calls)
}

// fail answers a failed count without the error's text, which may hold the
// scope's name, and logs it.
func (c *counter) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, scoped.ErrInvalidName):
		status = http.StatusBadRequest
	case errors.Is(err, scoped.ErrNotApplied), errors.Is(err, scoped.ErrClosed),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		status = http.StatusServiceUnavailable // not counted: safe to try again
	}
	c.log.LogAttrs(r.Context(), slog.LevelError, "count failed", slog.Int("status", status), slog.Any("error", err))
	http.Error(w, http.StatusText(status), status)
}

// healthz answers while the process serves.
func (c *counter) healthz(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintln(w, "ok")
}

// readyz answers once the store does (it reads the global scope), until the
// server drains.
func (c *counter) readyz(w http.ResponseWriter, r *http.Request) {
	if c.draining.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	_, err := scoped.View(ctx, c.e, c.prefix+"global", func(*scoped.Scope) (struct{}, error) {
		return struct{}{}, nil
	})
	if err != nil {
		c.log.LogAttrs(r.Context(), slog.LevelWarn, "not ready", slog.Any("error", err))
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// logRequests logs every request at Info: method, path (not the query,
// which holds user names), status, bytes and duration.
func (c *counter) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.log.Enabled(r.Context(), slog.LevelInfo) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		c.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Int("bytes", rec.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr))
	})
}

// recorder notes a response's status and size.
type recorder struct {
	http.ResponseWriter
	status, bytes int
	wrote         bool
}

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// shutdown stops srv taking connections, drains it, and waits for the
// requests in flight, for at most timeout; it says which happened.
//
// http.Server.Shutdown alone would close the idle keep-alive connections at
// once, resetting those a client is sending a request on at that moment.
// So first the listener closes (new connections are refused), and for up to
// drain every response closes its connection (Connection: close), so that
// clients leave the open ones themselves; /readyz fails. Shutdown then
// closes what is left and waits for the requests in flight.
func shutdown(srv *http.Server, ln net.Listener, c *counter, drain, timeout time.Duration) error {
	c.draining.Store(true)
	c.log.Info("draining: no new connections, each open one closes after its next response", "drain", drain)
	ln.Close()
	deadline := time.Now().Add(drain)
	for c.conns.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	c.log.Info("shutting down: finishing the requests in flight", "timeout", timeout, "connections", c.conns.Load())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
		return fmt.Errorf("requests still in flight after %v: %w", timeout, err)
	}
	c.log.Info("every request in flight finished")
	return nil
}

// onceCloser is a listener that closes once: shutdown closes it before
// http.Server.Shutdown does.
type onceCloser struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloser) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}
