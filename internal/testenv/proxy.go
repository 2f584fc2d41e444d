package testenv

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy on a loopback port that forwards every connection to
// a target address, and can be made to stop forwarding, as a network
// partition between its clients and the target would. Its methods may be
// called from any goroutine. It is closed at the test's cleanup.
type Proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup // the accept loop and the links' goroutines

	mu      sync.Mutex
	closed  bool // no more links once set
	stopped bool
	resumed chan struct{} // closed while the proxy forwards
	links   map[*link]struct{}
}

// link is one client connection and its connection to the target.
type link struct {
	client net.Conn
	done   chan struct{} // closed when the link is closed

	mu     sync.Mutex
	server net.Conn // nil until dialed
	closed bool
}

// StartProxy starts a proxy on 127.0.0.1 and a free port that forwards to
// target (host:port). It dials target once for each connection it accepts.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &Proxy{target: target, ln: ln, resumed: make(chan struct{}), links: map[*link]struct{}{}}
	close(p.resumed)
	t.Cleanup(p.close)
	p.wg.Go(p.accept)
	return p
}

// Addr returns the proxy's host:port, for clients to dial.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Stop stops forwarding, both ways, without closing anything: a network
// partition. Bytes already sent on either side are held, the way TCP keeps
// retransmitting them, and delivered by Resume, even on a connection that
// its client has closed meanwhile. A connection made while the proxy is
// stopped is accepted (the listener's backlog does that), but not
// forwarded until Resume. Stopping a stopped proxy does nothing.
func (p *Proxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		p.stopped = true
		p.resumed = make(chan struct{})
	}
}

// Resume forwards again, delivering what Stop held. Resuming a proxy that
// forwards does nothing.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		p.stopped = false
		close(p.resumed)
	}
}

// Cut closes every connection that the proxy holds, on both sides, and
// drops what it held for them: a partition that lasted until the
// connections timed out. Connections made afterwards are forwarded, or
// held if the proxy is stopped.
func (p *Proxy) Cut() {
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.close()
	}
}

// close stops accepting, closes every connection and waits until the
// proxy's goroutines are gone.
func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

// accept runs a link for every connection accepted, until the listener is
// closed.
func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		l := &link{client: c, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed { // accepted just before close: Cut did not see it
			p.mu.Unlock()
			c.Close()
			return
		}
		p.links[l] = struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() {
			p.run(l)
			p.mu.Lock()
			delete(p.links, l)
			p.mu.Unlock()
		})
	}
}

// run dials the target for l, once the proxy forwards, and copies bytes
// both ways until either side closes or fails; then it closes both.
func (p *Proxy) run(l *link) {
	defer l.close()
	if !p.await(l) {
		return
	}
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil || !l.setServer(server) {
		return
	}
	var both sync.WaitGroup
	both.Go(func() { p.pump(l, server, l.client) })
	both.Go(func() { p.pump(l, l.client, server) })
	both.Wait()
}

// pump copies from src to dst, holding what it read while the proxy is
// stopped. When src ends it closes l. When a write to dst fails it only
// returns: the other pump, reading from dst, then ends too, having
// delivered what it held.
func (p *Proxy) pump(l *link, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.await(l) {
				return
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			l.close()
			return
		}
	}
}

// await waits until the proxy forwards, and reports false if l is closed
// first.
func (p *Proxy) await(l *link) bool {
	p.mu.Lock()
	resumed := p.resumed
	p.mu.Unlock()
	select {
	case <-resumed:
		return true
	case <-l.done:
		return false
	}
}

// setServer gives l its connection to the target, and reports false, having
// closed server, if l is closed already.
func (l *link) setServer(server net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		server.Close()
		return false
	}
	l.server = server
	return true
}

// close closes both of l's connections, once.
func (l *link) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	close(l.done)
	l.client.Close()
	if l.server != nil {
		l.server.Close()
	}
}
