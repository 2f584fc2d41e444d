package testenv

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// quiet is how long a test waits to see that nothing arrives.
const quiet = 200 * time.Millisecond

// target listens on a loopback port and passes every connection it accepts
// to the test, which closes them.
type target struct {
	ln    net.Listener
	conns chan net.Conn
}

func startTarget(t *testing.T) *target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{ln: ln, conns: make(chan net.Conn, 16)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tg.conns <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(tg.conns)
		for c := range tg.conns {
			c.Close()
		}
	})
	return tg
}

// accept returns the next connection the target accepted, or nil if none
// comes within wait.
func (tg *target) accept(t *testing.T, wait time.Duration) net.Conn {
	t.Helper()
	select {
	case c := <-tg.conns:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(wait):
		return nil
	}
}

// dial connects to the proxy and returns the client's connection and the
// target's end of it.
func dial(t *testing.T, p *Proxy, tg *target) (client, server net.Conn) {
	t.Helper()
	client = dialOnly(t, p)
	if server = tg.accept(t, 5*time.Second); server == nil {
		t.Fatal("the proxy did not connect to the target")
	}
	return client, server
}

func dialOnly(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// receive reads len(want) bytes from c, and fails unless they are want.
func receive(t *testing.T, c net.Conn, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
		t.Fatalf("read %q, %v; want %q", got, err, want)
	}
}

// nothing fails if c receives anything within quiet.
func nothing(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(quiet))
	b := make([]byte, 1)
	n, err := c.Read(b)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %q, %v; want nothing", b[:n], err)
	}
}

// closedByProxy fails unless c reads the end of the stream.
func closedByProxy(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 1)
	if n, err := c.Read(b); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %q, %v; want the connection closed", b[:n], err)
	}
}

func TestProxyForwards(t *testing.T) {
	tg := startTarget(t)
	p := StartProxy(t, tg.ln.Addr().String())
	client, server := dial(t, p, tg)
	send(t, client, "ping")
	receive(t, server, "ping")
	send(t, server, "pong")
	receive(t, client, "pong")
}

// Stop holds bytes both ways, without closing the connection; Resume
// delivers them, in order.
func TestProxyStopHoldsBothWays(t *testing.T) {
	tg := startTarget(t)
	p := StartProxy(t, tg.ln.Addr().String())
	client, server := dial(t, p, tg)
	p.Stop()
	p.Stop() // twice is once
	send(t, client, "request")
	send(t, server, "reply")
	nothing(t, server)
	nothing(t, client)
	send(t, client, "+more")
	p.Resume()
	p.Resume()
	receive(t, server, "request+more")
	receive(t, client, "reply")
	send(t, client, "after")
	receive(t, server, "after")
}

// Bytes held by Stop reach the target even when their client closed its
// connection meanwhile, as a request does whose client timed out.
func TestProxyDeliversAfterClientCloses(t *testing.T) {
	tg := startTarget(t)
	p := StartProxy(t, tg.ln.Addr().String())
	client, server := dial(t, p, tg)
	p.Stop()
	send(t, client, "late write")
	client.Close()
	nothing(t, server)
	p.Resume()
	receive(t, server, "late write")
	closedByProxy(t, server)
}

// A connection made while the proxy is stopped is accepted, but reaches the
// target only at Resume.
func TestProxyStoppedBeforeDial(t *testing.T) {
	tg := startTarget(t)
	p := StartProxy(t, tg.ln.Addr().String())
	p.Stop()
	client := dialOnly(t, p)
	send(t, client, "hello")
	if c := tg.accept(t, quiet); c != nil {
		t.Fatal("the proxy dialed the target while stopped")
	}
	p.Resume()
	server := tg.accept(t, 5*time.Second)
	if server == nil {
		t.Fatal("the proxy did not connect to the target after Resume")
	}
	receive(t, server, "hello")
}

// Cut closes every connection on both sides, drops what was held, and
// leaves the proxy taking new connections.
func TestProxyCut(t *testing.T) {
	tg := startTarget(t)
	p := StartProxy(t, tg.ln.Addr().String())
	client, server := dial(t, p, tg)
	p.Stop()
	send(t, client, "dropped")
	p.Cut()
	closedByProxy(t, client)
	closedByProxy(t, server)
	p.Resume()
	client, server = dial(t, p, tg)
	send(t, client, "new")
	receive(t, server, "new")
}
