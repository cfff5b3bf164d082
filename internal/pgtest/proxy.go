package pgtest

import (
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to the test server. It can be stopped,
// closing every connection it forwards and refusing new ones, as a server
// that went down would, and started again on the same address; reset,
// closing every connection it forwards but taking new ones at once, as a
// network that reset its connections would; or frozen, holding every byte
// without closing anything, new connections included, as a network that
// drops packets would (a black hole), and thawed.
type Proxy struct {
	t      testing.TB
	target string // the server's host:port
	addr   string // the proxy's host:port
	URL    string // the test URL, through the proxy

	mu     sync.Mutex
	thawed *sync.Cond // signalled when frozen is cleared
	frozen bool
	ln     net.Listener
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

// NewProxy starts a proxy to the server of rawURL, stopped when the test
// ends.
func NewProxy(t testing.TB, rawURL string) *Proxy {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Port() == "" || strings.HasPrefix(u.Hostname(), "/") {
		t.Skipf("the test server is not at a host:port (%s)", u.Redacted())
	}
	p := &Proxy{t: t, target: u.Host, addr: "127.0.0.1:0"}
	p.thawed = sync.NewCond(&p.mu)
	p.Start()
	t.Cleanup(p.Stop)
	u.Host = p.addr
	p.URL = u.String()
	return p
}

// Start accepts connections, on the address of the last start if any.
func (p *Proxy) Start() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr, p.conns = ln, ln.Addr().String(), make(map[net.Conn]bool)
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.ln != ln { // stopped meanwhile
				p.mu.Unlock()
				c.Close()
				up.Close()
				return
			}
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				defer dst.Close()
				defer src.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if n > 0 {
						p.mu.Lock()
						for p.frozen {
							p.thawed.Wait()
						}
						p.mu.Unlock()
						if _, err := dst.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}
			p.wg.Go(func() { pipe(up, c) })
			p.wg.Go(func() { pipe(c, up) })
		}
	})
}

// Freeze holds every byte sent either way until thaw.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

// Thaw passes on what freeze held, and all that follows.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	p.frozen = false
	p.thawed.Broadcast()
	p.mu.Unlock()
}

// Reset closes every connection the proxy forwards, and goes on taking
// new ones.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Stop closes the listener and every connection, and waits for the
// proxy's goroutines to end. It thaws the proxy.
func (p *Proxy) Stop() {
	p.mu.Lock()
	p.frozen = false
	p.thawed.Broadcast()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
