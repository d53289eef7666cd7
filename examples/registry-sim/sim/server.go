package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Config is everything the registry-sim command line sets.
type Config struct {
	// Listen is the registry surface's address; it must be loopback.
	Listen string
	// Control is the control API's address; it must be loopback.
	Control string
	// AddrFile, when set, receives the bound addresses as JSON (see Addrs)
	// once both listeners are up, and is removed on shutdown.
	AddrFile string
	// Options configure the registry itself.
	Options
	// Log receives one line per listener at start. Nil discards.
	Log *log.Logger
}

// ErrNotLoopback is returned (wrapped) for a listen address outside
// 127.0.0.0/8, ::1 and localhost.
var ErrNotLoopback = errors.New("only loopback addresses (127.0.0.0/8, ::1, localhost) are allowed: the registry simulator must never be exposed")

// CheckLoopback accepts host:port addresses whose host is a loopback IP
// literal or "localhost". An empty host would bind every interface.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return fmt.Errorf("refusing to listen on %q: %w", addr, ErrNotLoopback)
	}
	return nil
}

// listenLoopback checks addr, binds it and checks what was bound, since a
// name ("localhost") resolves through files a test machine may have edited.
func listenLoopback(addr string) (net.Listener, error) {
	if err := CheckLoopback(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		_ = ln.Close()
		return nil, fmt.Errorf("refusing to listen on %q (bound %s): %w", addr, ln.Addr(), ErrNotLoopback)
	}
	return ln, nil
}

// Instance is a running simulator.
type Instance struct {
	reg      *Registry
	addrs    Addrs
	addrFile string
	servers  [2]*http.Server
	cancel   context.CancelFunc
	errc     chan error
	stopOnce sync.Once
	stopErr  error
}

// Start builds the registry, binds both listeners, writes the addr file
// and serves in the background until Shutdown.
func Start(cfg Config) (*Instance, error) {
	logger := cfg.Log
	if logger == nil {
		logger = log.New(io.Discard, "", 0)
	}
	reg, err := NewRegistry(cfg.Options)
	if err != nil {
		return nil, err
	}
	regLn, err := listenLoopback(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	ctlLn, err := listenLoopback(cfg.Control)
	if err != nil {
		_ = regLn.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	in := &Instance{
		reg:   reg,
		addrs: Addrs{Listen: regLn.Addr().String(), Control: ctlLn.Addr().String()},
		errc:  make(chan error, 2),
	}
	if cfg.AddrFile != "" {
		if err := writeAddrFile(cfg.AddrFile, in.addrs); err != nil {
			_ = regLn.Close()
			_ = ctlLn.Close()
			return nil, fmt.Errorf("addr file: %w", err)
		}
		in.addrFile = cfg.AddrFile
	}

	// Cancelled at shutdown so requests parked by delay-next let go.
	baseCtx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	newServer := func(h http.Handler) *http.Server {
		s := &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          logger,
			BaseContext:       func(net.Listener) context.Context { return baseCtx },
			// Otherwise net/http answers "OPTIONS *" itself and the request
			// would never be recorded.
			DisableGeneralOptionsHandler: true,
		}
		// HTTP/1.1 only, as a plain-HTTP Tomcat, Node or Elasticsearch
		// behind the gateway would speak.
		s.Protocols = new(http.Protocols)
		s.Protocols.SetHTTP1(true)
		return s
	}
	in.servers[0] = newServer(reg)
	in.servers[1] = newServer(reg.ControlHandler())

	rec := "on"
	if cfg.NoRecord {
		rec = "off"
	}
	logger.Printf("registry-sim: registry surface (OpenCR, HAPI FHIR, Elasticsearch) on %s: %d patients, recording %s",
		in.addrs.ListenURL(), len(reg.patients), rec)
	logger.Printf("registry-sim: control API on %s", in.addrs.ControlURL())
	for i, ln := range []net.Listener{regLn, ctlLn} {
		go func() {
			if err := in.servers[i].Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				in.errc <- err
			}
		}()
	}
	return in, nil
}

// Addrs are the bound addresses.
func (in *Instance) Addrs() Addrs { return in.addrs }

// Registry is the running registry, for in-process tests.
func (in *Instance) Registry() *Registry { return in.reg }

// Err reports a listener that stopped serving on its own.
func (in *Instance) Err() <-chan error { return in.errc }

// Shutdown stops both listeners, waits for in-flight requests until ctx
// ends (then closes their connections) and removes the addr file.
func (in *Instance) Shutdown(ctx context.Context) error {
	in.stopOnce.Do(func() {
		in.cancel()
		var errs []error
		for _, s := range in.servers {
			if err := s.Shutdown(ctx); err != nil {
				errs = append(errs, err, s.Close())
			}
		}
		if in.addrFile != "" {
			if err := os.Remove(in.addrFile); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		in.stopErr = errors.Join(errs...)
	})
	return in.stopErr
}

// Run starts the simulator and serves until ctx ends, then shuts down
// gracefully.
func Run(ctx context.Context, cfg Config) error {
	in, err := Start(cfg)
	if err != nil {
		return err
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-in.Err():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(serveErr, in.Shutdown(sctx))
}

// writeAddrFile writes a then renames it into place, so a test polling for
// the file never reads half of it.
func writeAddrFile(path string, a Addrs) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".registry-sim-addr-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}
