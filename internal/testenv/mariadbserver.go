package testenv

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// mariadbStartTimeout bounds how long a private mariadbd may take to answer
// after it was started.
const mariadbStartTimeout = 30 * time.Second

// MariaDBServer is a private mariadbd process that a test started on a free
// loopback port, with its data in a t.TempDir(). Its root user has no
// password. It is killed at the test's cleanup, whatever the outcome; its
// data goes with the directory. Kill and Restart may be called from any
// goroutine.
type MariaDBServer struct {
	port     int
	dir      string
	mariadbd string   // the server's executable
	args     []string // extra command-line arguments

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has been waited for
}

// StartMariaDB creates a data directory, starts a private mariadbd on it
// with the extra command-line args (e.g. "--max-connections=10"), and waits
// until it answers. Without mariadbd and mariadb-install-db the test is
// stopped as by Unavailable. It takes a second or two.
func StartMariaDB(t testing.TB, args ...string) *MariaDBServer {
	t.Helper()
	mariadbd, err := lookPath("mariadbd", "/usr/sbin/mariadbd")
	if err != nil {
		Unavailable(t, "mariadbd", err)
	}
	install, err := lookPath("mariadb-install-db", "/usr/bin/mariadb-install-db")
	if err != nil {
		Unavailable(t, "mariadb-install-db", err)
	}
	s := &MariaDBServer{dir: t.TempDir(), mariadbd: mariadbd, args: args}
	argv := []string{"--no-defaults", "--datadir=" + s.dataDir(), "--auth-root-authentication-method=normal", "--skip-test-db"}
	if os.Geteuid() == 0 {
		argv = append(argv, "--user=root")
	}
	if out, err := exec.Command(install, argv...).CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if err := s.Kill(); err != nil {
			t.Errorf("mariadbd on port %d: %v", s.port, err)
		}
	})
	var errs []error
	for range 5 {
		s.port = freePort(false)
		ctx, cancel := context.WithTimeout(context.Background(), mariadbStartTimeout)
		err := s.launch(ctx)
		cancel()
		if err == nil {
			return s
		}
		errs = append(errs, err)
	}
	t.Fatalf("starting mariadbd: %v", errors.Join(errs...))
	return nil
}

// Addr returns the server's host:port.
func (s *MariaDBServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// DSN returns a go-sql-driver data source name for user (no password) and
// database on the server.
func (s *MariaDBServer) DSN(user, database string) string {
	return fmt.Sprintf("%s@tcp(%s)/%s", user, s.Addr(), database)
}

// Kill stops the server with SIGKILL, as a crash would, and waits until the
// process is gone. Killing a stopped server does nothing.
func (s *MariaDBServer) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-s.exited
	s.cmd = nil
	return nil
}

// Restart starts the server again on the same port and data directory, with
// the same arguments, and waits until it answers: after a Kill, InnoDB
// recovers what was committed. A running server is killed first.
func (s *MariaDBServer) Restart(ctx context.Context) error {
	if err := s.Kill(); err != nil {
		return err
	}
	return s.launch(ctx)
}

// dataDir returns the server's data directory.
func (s *MariaDBServer) dataDir() string { return filepath.Join(s.dir, "data") }

// launch runs mariadbd on s's port and data directory and waits until that
// very process answers: another process may hold the port.
func (s *MariaDBServer) launch(ctx context.Context) error {
	data := s.dataDir()
	argv := append([]string{
		"--no-defaults",
		"--datadir=" + data,
		"--port=" + strconv.Itoa(s.port),
		"--bind-address=127.0.0.1",
		"--socket=" + filepath.Join(s.dir, "mariadbd.sock"),
		"--pid-file=" + filepath.Join(s.dir, "mariadbd.pid"),
		"--log-error=" + filepath.Join(s.dir, "mariadbd.log"),
		"--skip-log-bin",
		"--innodb-buffer-pool-size=16M",
	}, s.args...)
	if os.Geteuid() == 0 {
		argv = append(argv, "--user=root")
	}
	cmd := exec.Command(s.mariadbd, argv...)
	cmd.SysProcAttr = killWithParent()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("mariadbd: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	if err := awaitMariaDB(ctx, s.DSN("root", ""), data, exited); err != nil {
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("mariadbd on port %d: %w%s", s.port, err, s.logTail())
	}
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	return nil
}

// awaitMariaDB polls the server at dsn until it answers with data as its
// data directory.
func awaitMariaDB(ctx context.Context, dsn, data string, exited <-chan struct{}) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return err
	}
	cfg.Logger = &mysql.NopLogger{}
	cfg.Timeout = time.Second
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	var last error
	for {
		select {
		case <-exited:
			return errors.New("exited at start")
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last: %v)", ctx.Err(), last)
		case <-time.After(20 * time.Millisecond):
		}
		var dir string
		if last = db.QueryRowContext(ctx, "SELECT @@datadir").Scan(&dir); last != nil {
			continue
		}
		if filepath.Clean(dir) != filepath.Clean(data) {
			return errors.New("another server answers on its port")
		}
		return nil
	}
}

// logTail returns the end of the server's log, for an error message.
func (s *MariaDBServer) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "mariadbd.log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "; its log ends:\n" + string(bytes.TrimSpace(b))
}

// lookPath finds name on $PATH, or at fallback (sbin is often not on it).
func lookPath(name, fallback string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback, nil
	}
	return "", fmt.Errorf("%s is not installed", name)
}
