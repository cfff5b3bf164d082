package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// bareConfig is what the bare server answers: keyward's own responses,
// captured by the bench, replayed byte for byte (same status, same
// headers, same body, hence the same size and the same framing: a list
// page is chunked, as keyward's is).
type bareConfig struct {
	Verify response `json:"verify"` // for every POST
	List   response `json:"list"`   // for every GET
}

// runBare is the hidden bare-server mode: a plain net/http server on
// 127.0.0.1:0 that reads each request's body and writes a fixed response,
// and nothing else: no routing, no JSON, no logging, no store. It is the
// most this machine's net/http can serve for the same requests and
// response sizes: the ceiling keyward is compared with. It prints its
// address on stdout and runs until stdin closes.
func runBare(cfgPath string, stdin io.Reader, stdout io.Writer) error {
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	var cfg bareConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp := &cfg.List
		if r.Method == http.MethodPost {
			resp = &cfg.Verify
			_, _ = io.Copy(io.Discard, r.Body)
		}
		h := w.Header()
		for k, v := range resp.Header {
			h[k] = v
		}
		w.WriteHeader(resp.Status)
		_, _ = w.Write(resp.Body)
	})}
	go func() { _ = srv.Serve(ln) }()
	if _, err := fmt.Fprintf(stdout, "BARE_ADDR %s\n", ln.Addr()); err != nil {
		return err
	}
	// The parent closes stdin to stop us; should the parent die, the pipe
	// closes too.
	_, _ = io.Copy(io.Discard, stdin)
	return srv.Close()
}

// bareProc is a running bare server.
type bareProc struct {
	*proc
	addr string
}

// startBare starts this executable as the bare server, pinned like keyward,
// and reads its address.
func (b *bench) startBare(ctx context.Context, cfgPath string) (*bareProc, error) {
	cmd := b.pin.command(ctx, b.pin.serverCPU, b.self)
	cmd.Env = childEnv(envBare + "=" + cfgPath)
	cmd.Stderr = b.log
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p, err := b.procs.start("bare server", cmd, true)
	if err != nil {
		return nil, err
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "BARE_ADDR "); ok {
				addrc <- a
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case addr := <-addrc:
		return &bareProc{proc: p, addr: addr}, nil
	case <-p.done:
		return nil, fmt.Errorf("bare server exited: %v", p.err)
	case <-time.After(30 * time.Second):
		_ = p.stop(time.Second)
		return nil, fmt.Errorf("bare server: no address after 30s")
	case <-ctx.Done():
		_ = p.stop(time.Second)
		return nil, ctx.Err()
	}
}
