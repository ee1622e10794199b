// Package ftptest runs a real FTP server in process for tests: goftp.io/server/v2 over
// a local folder, listening on 127.0.0.1, plain or with explicit TLS (AUTH TLS), that a
// test can stop, restart on the same port, cut off mid-transfer, or make list hostile
// names.
package ftptest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	server "goftp.io/server/v2"
	"goftp.io/server/v2/driver/file"
)

// Options configure a server.
type Options struct {
	// TLS, when set, enables explicit FTPS (AUTH TLS, PROT P) with this configuration.
	TLS *tls.Config
	// User and Password are the only accepted credentials (default "hub" / "secret").
	User, Password string
	// Root is the folder served as "/" (default: a new temporary folder).
	Root string
	// NoRenameOverwrite makes a rename onto an existing file fail with 550, as Windows
	// (IIS) servers do.
	NoRenameOverwrite bool
}

// Server is a running in-process FTP server.
//
// Clients reach it through a small TCP relay on Addr that the test controls: Stop
// closes the relay (connections are refused, open control connections cut), Restart
// opens it again on the same port, DropConnections cuts every control connection as a
// network failure would. TLS runs end to end between the client and the FTP server
// behind the relay; data connections (EPSV/PASV) go to the server directly.
type Server struct {
	Root     string // local folder served as "/"
	Addr     string // "127.0.0.1:<port>" of the relay
	User     string
	Password string

	t       testing.TB
	opts    Options
	backend string
	srv     *server.Server
	srvDone chan struct{}

	mu        sync.Mutex
	l         net.Listener
	acceptEnd chan struct{}
	conns     map[net.Conn]net.Conn // client side → server side
	extra     map[string][]os.FileInfo
	faults    []*fault
	logins    int
	events    []string
	onGet     func(remotePath string)
}

type fault struct {
	match func(remotePath string) bool
	after int64
	used  bool
}

// Start starts a server and stops it when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.User == "" {
		o.User, o.Password = "hub", "secret"
	}
	if o.Root == "" {
		o.Root = t.TempDir()
	}
	s := &Server{Root: o.Root, User: o.User, Password: o.Password, t: t, opts: o,
		conns: map[net.Conn]net.Conn{}, extra: map[string][]os.FileInfo{}}
	var err error
	for range 5 {
		if err = s.startBackend(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("ftptest: start: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("ftptest: relay: %v", err)
	}
	s.Addr = l.Addr().String()
	s.serve(l)
	t.Cleanup(func() {
		s.Stop()
		s.srv.Shutdown()
		<-s.srvDone
	})
	return s
}

// TLS reports whether the server offers explicit FTPS.
func (s *Server) TLS() bool { return s.opts.TLS != nil }

// URL returns ftp://addr/p (ftps:// when TLS is on).
func (s *Server) URL(p string) *url.URL {
	scheme := "ftp"
	if s.TLS() {
		scheme = "ftps"
	}
	return &url.URL{Scheme: scheme, Host: s.Addr, Path: "/" + strings.TrimPrefix(p, "/")}
}

// Path returns the local path of the remote path p.
func (s *Server) Path(p string) string {
	return filepath.Join(s.Root, filepath.FromSlash(path.Clean("/"+p)))
}

// Logins counts successful logins since start.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

func (s *Server) startBackend() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.backend = l.Addr().String()
	l.Close()
	_, portStr, _ := net.SplitHostPort(s.backend)
	port, _ := strconv.Atoi(portStr)
	inner, err := file.NewDriver(s.Root)
	if err != nil {
		return err
	}
	opts := &server.Options{
		Driver:   &driver{Driver: inner, s: s},
		Auth:     &auth{s: s},
		Perm:     server.NewSimplePerm("hub", "hub"),
		Hostname: "127.0.0.1",
		Port:     port,
		Logger:   &server.DiscardLogger{},
	}
	if s.opts.TLS != nil {
		opts.TLS, opts.ExplicitFTPS, opts.TLSConfig = true, true, s.opts.TLS
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		errc <- srv.ListenAndServe()
	}()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-errc:
			return fmt.Errorf("ftptest: listen on %s: %w", s.backend, err)
		default:
		}
		if c, err := ftp.Dial(s.backend, ftp.DialWithTimeout(time.Second)); err == nil {
			// A login attempt runs the auth callback in a session goroutine that the
			// server started after its own setup; taking s.mu after it orders that setup
			// before Shutdown for the race detector (goftp does not synchronise them).
			c.Login(probeUser, "x")
			c.Quit()
			s.mu.Lock()
			s.srv, s.srvDone = srv, done
			s.mu.Unlock()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.Shutdown()
	return fmt.Errorf("ftptest: server on %s did not start", s.backend)
}

// serve relays the connections accepted on l to the FTP server.
func (s *Server) serve(l net.Listener) {
	end := make(chan struct{})
	s.mu.Lock()
	s.l, s.acceptEnd = l, end
	s.mu.Unlock()
	go func() {
		defer close(end)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", s.backend)
			if err != nil {
				c.Close()
				continue
			}
			s.mu.Lock()
			s.conns[c] = b
			s.mu.Unlock()
			go s.relay(c, b)
		}
	}()
}

func (s *Server) relay(c, b net.Conn) {
	done := make(chan struct{}, 2)
	go func() { io.Copy(b, c); done <- struct{}{} }()
	go func() { io.Copy(c, b); done <- struct{}{} }()
	<-done
	c.Close()
	b.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Stop takes the server down: new connections are refused and open control
// connections are cut. It may be called more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	l, end := s.l, s.acceptEnd
	s.l = nil
	s.mu.Unlock()
	if l == nil {
		return
	}
	l.Close()
	<-end
	s.DropConnections()
}

// Restart opens a stopped server again on the same address.
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	for range 100 {
		var l net.Listener
		if l, err = net.Listen("tcp", s.Addr); err == nil {
			s.serve(l)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("ftptest: restart on %s: %v", s.Addr, err)
}

// DropConnections cuts every open control connection, as a network failure would (the
// server then closes the sessions and their data connections), and returns how many it
// cut.
func (s *Server) DropConnections() int {
	s.mu.Lock()
	var all []net.Conn
	for c, b := range s.conns {
		all = append(all, c, b)
	}
	s.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
	return len(all) / 2
}

// FailUpload makes the next upload whose remote path satisfies match break after
// `after` bytes: the server stops writing and every connection is cut, leaving what it
// received so far on disk.
func (s *Server) FailUpload(match func(remotePath string) bool, after int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{match: match, after: after})
}

// OnRetrieve calls fn before the server opens a file for download (RETR), so a test
// can change the file between a listing and the download.
func (s *Server) OnRetrieve(fn func(remotePath string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onGet = fn
}

// ListExtra makes listings of the remote folder dir also show files with these names
// (which do not exist): what a broken or hostile server may send.
func (s *Server) ListExtra(dir string, names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir = path.Clean("/" + dir)
	for _, n := range names {
		s.extra[dir] = append(s.extra[dir], fakeInfo{name: n})
	}
}

// Events lists what clients did, in order: "STOR <path>" for each completed upload,
// "RNTO <from> <to>" for each rename, "DELE <path>" for each deletion.
func (s *Server) Events() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.events...)
}

func (s *Server) event(format string, args ...any) {
	s.mu.Lock()
	s.events = append(s.events, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

type auth struct{ s *Server }

const probeUser = "ftptest-probe"

func (a *auth) CheckPasswd(ctx *server.Context, user, pass string) (bool, error) {
	if user == probeUser {
		a.s.mu.Lock()
		a.s.mu.Unlock()
		return false, nil
	}
	ok, _ := (&server.SimpleAuth{Name: a.s.User, Password: a.s.Password}).CheckPasswd(ctx, user, pass)
	if ok {
		a.s.mu.Lock()
		a.s.logins++
		a.s.mu.Unlock()
	}
	return ok, nil
}

type driver struct {
	server.Driver
	s *Server
}

func (d *driver) ListDir(ctx *server.Context, p string, cb func(os.FileInfo) error) error {
	if err := d.Driver.ListDir(ctx, p, cb); err != nil {
		return err
	}
	d.s.mu.Lock()
	extra := d.s.extra[path.Clean(p)]
	d.s.mu.Unlock()
	for _, fi := range extra {
		if err := cb(fi); err != nil {
			return err
		}
	}
	return nil
}

func (d *driver) Rename(ctx *server.Context, from, to string) error {
	if d.s.opts.NoRenameOverwrite {
		if _, err := os.Lstat(d.s.Path(to)); err == nil {
			return errors.New("destination exists")
		}
	}
	if err := d.Driver.Rename(ctx, from, to); err != nil {
		return err
	}
	d.s.event("RNTO %s %s", from, to)
	return nil
}

func (d *driver) GetFile(ctx *server.Context, p string, offset int64) (int64, io.ReadCloser, error) {
	d.s.mu.Lock()
	fn := d.s.onGet
	d.s.mu.Unlock()
	if fn != nil {
		fn(p)
	}
	return d.Driver.GetFile(ctx, p, offset)
}

func (d *driver) DeleteFile(ctx *server.Context, p string) error {
	if err := d.Driver.DeleteFile(ctx, p); err != nil {
		return err
	}
	d.s.event("DELE %s", p)
	return nil
}

func (d *driver) PutFile(ctx *server.Context, p string, r io.Reader, offset int64) (int64, error) {
	d.s.mu.Lock()
	var f *fault
	for _, x := range d.s.faults {
		if !x.used && x.match(p) {
			x.used, f = true, x
			break
		}
	}
	d.s.mu.Unlock()
	if f != nil {
		r = &breakingReader{r: r, left: f.after, s: d.s}
	}
	n, err := d.Driver.PutFile(ctx, p, r, offset)
	if err == nil {
		d.s.event("STOR %s", p)
	}
	return n, err
}

// breakingReader passes `left` bytes, then drops every connection of the server.
type breakingReader struct {
	r    io.Reader
	left int64
	s    *Server
}

func (b *breakingReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		b.s.DropConnections()
		return 0, errors.New("ftptest: connection dropped mid-transfer")
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

type fakeInfo struct{ name string }

func (f fakeInfo) Name() string       { return f.name }
func (f fakeInfo) Size() int64        { return 10 }
func (f fakeInfo) Mode() os.FileMode  { return 0o644 }
func (f fakeInfo) ModTime() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }
func (f fakeInfo) IsDir() bool        { return false }
func (f fakeInfo) Sys() any           { return nil }
