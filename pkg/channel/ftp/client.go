package ftp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/jlaffaye/ftp"

	"snodo/pkg/channel"
	"snodo/pkg/tlsconf"
)

// dialer opens logged-in connections to one endpoint.
type dialer struct {
	addr           string // host:port
	user, password string
	tls            *tls.Config // explicit FTPS when set
	connectTimeout time.Duration
	timeout        time.Duration
	disableEPSV    bool
	disableMLSD    bool
}

func newDialer(ep *channel.Endpoint, set *Settings) (*dialer, error) {
	host, port := ep.URL.Hostname(), ep.URL.Port()
	if port == "" {
		port = "21"
	}
	d := &dialer{
		addr: net.JoinHostPort(host, port), user: ep.Username, password: ep.Password,
		connectTimeout: set.connectTimeout(), timeout: set.timeout(),
		disableEPSV: set.DisableEPSV, disableMLSD: set.DisableMLSD,
	}
	if ep.URL.Scheme == "ftps" {
		cfg, err := tlsconf.Client{CertFile: ep.TLS.CertFile, KeyFile: ep.TLS.KeyFile, RootCA: ep.TLS.CAFile,
			ServerName: ep.TLS.ServerName, MinVersion: ep.TLS.MinVersion}.Config()
		if err != nil {
			return nil, fmt.Errorf("ftp: endpoint %s: %w", ep.Name, err)
		}
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		cfg.InsecureSkipVerify = ep.TLS.InsecureSkipVerify
		// Data connections resume the control connection's TLS session, which servers
		// such as vsftpd (require_ssl_reuse) and FileZilla Server demand.
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(16)
		d.tls = cfg
	}
	return d, nil
}

// conn is one logged-in FTP connection with the network connections it opened, so a
// cancelled context or a timeout can cut them.
type conn struct {
	c        *ftp.ServerConn
	mu       sync.Mutex
	nets     map[net.Conn]struct{}
	dead     bool
	lastUsed time.Time
	// protected counts operations that must finish even when the context ends (the
	// acknowledgement of a committed file); a cut asked meanwhile waits for them.
	protected  int
	cutPending bool
}

// deadlineConn gives every read and write its own deadline: the idle timeout of FTP.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
	owner   *conn
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

func (c *deadlineConn) Close() error {
	c.owner.mu.Lock()
	delete(c.owner.nets, c)
	c.owner.mu.Unlock()
	return c.Conn.Close()
}

// dial connects and logs in. ctx bounds the whole login.
func (d *dialer) dial(ctx context.Context) (*conn, error) {
	cn := &conn{nets: map[net.Conn]struct{}{}}
	stop := cn.guard(ctx)
	defer stop()
	dctx, cancel := context.WithTimeout(ctx, d.connectTimeout)
	defer cancel()
	first := true
	var mu sync.Mutex
	dialFn := func(network, addr string) (net.Conn, error) {
		mu.Lock()
		control := first
		first = false
		mu.Unlock()
		nd := net.Dialer{Timeout: d.connectTimeout, KeepAlive: 30 * time.Second}
		var raw net.Conn
		var err error
		if control {
			raw, err = nd.DialContext(dctx, network, d.addr)
		} else {
			raw, err = nd.Dial(network, addr)
		}
		if err != nil {
			return nil, err
		}
		dc := &deadlineConn{Conn: raw, timeout: d.timeout, owner: cn}
		if control {
			// The greeting and login must finish within the connect timeout.
			dc.timeout = d.connectTimeout
		}
		cn.mu.Lock()
		dead := cn.dead
		cn.nets[dc] = struct{}{}
		cn.mu.Unlock()
		if dead {
			dc.Close()
			return nil, net.ErrClosed
		}
		if !control && d.tls != nil {
			// jlaffaye/ftp does not wrap data connections in TLS when a dial function
			// is set: do it here (PROT P).
			return tls.Client(dc, d.tls), nil
		}
		return dc, nil
	}
	opts := []ftp.DialOption{
		ftp.DialWithDialFunc(dialFn),
		ftp.DialWithDisabledEPSV(d.disableEPSV),
		ftp.DialWithDisabledMLSD(d.disableMLSD),
		ftp.DialWithShutTimeout(d.timeout),
	}
	if d.tls != nil {
		opts = append(opts, ftp.DialWithExplicitTLS(d.tls))
	}
	c, err := ftp.Dial(d.addr, opts...)
	if err != nil {
		cn.close()
		return nil, classify(fmt.Errorf("ftp: connessione a %s: %w", d.addr, ctxErr(ctx, err)))
	}
	if err := c.Login(d.user, d.password); err != nil {
		c.Quit()
		cn.close()
		err = classify(fmt.Errorf("ftp: accesso a %s come %s: %w", d.addr, d.user, ctxErr(ctx, err)))
		if isCode(err, ftp.StatusNotLoggedIn) {
			err = channel.Permanent(fmt.Errorf("%w: credenziali rifiutate, verificare utente e password dell'endpoint (credentials refused)", err))
		}
		return nil, err
	}
	// The login is done: from now on the control connection waits at most the I/O
	// timeout for any reply.
	cn.mu.Lock()
	for nc := range cn.nets {
		nc.(*deadlineConn).timeout = d.timeout
	}
	cn.mu.Unlock()
	cn.c = c
	cn.lastUsed = time.Now()
	return cn, nil
}

// guard cuts the connection when ctx ends before stop is called, unless a protected
// operation runs: then right after it.
func (c *conn) guard(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, c.cut)
}

func (c *conn) cut() {
	c.mu.Lock()
	if c.protected > 0 {
		c.cutPending = true
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.close()
}

// protect lets the operations until the returned function is called finish even if the
// context ends; they are still bounded by the I/O timeout.
func (c *conn) protect() (done func()) {
	c.mu.Lock()
	c.protected++
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.protected--
		cut := c.protected == 0 && c.cutPending
		c.mu.Unlock()
		if cut {
			c.close()
		}
	}
}

// close cuts every network connection at once (no QUIT: it would block).
func (c *conn) close() {
	c.mu.Lock()
	c.dead = true
	nets := make([]net.Conn, 0, len(c.nets))
	for n := range c.nets {
		nets = append(nets, n)
	}
	c.mu.Unlock()
	for _, n := range nets {
		n.Close()
	}
}

// quit ends the session politely, bounded by the I/O timeout.
func (c *conn) quit() {
	if c.c != nil {
		c.c.Quit()
	}
	c.close()
}

func (c *conn) isDead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead
}

// ctxErr prefers the context's error when the context ended: the network error is
// only its consequence.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// classify marks errors no retry can fix: a server certificate the hub does not trust.
func classify(err error) error {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host) || errors.As(err, &verify) {
		return channel.Permanent(fmt.Errorf("%w: certificato del server non valido, verificare ca_file e server_name (server certificate not trusted)", err))
	}
	return err
}

// isCode reports whether err carries the FTP reply code.
func isCode(err error, code int) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code == code
}

// isReply reports whether err is a reply of the server (the connection still works),
// as opposed to a network failure.
func isReply(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code != ftp.StatusNotAvailable
}

// isNotFound reports a 550-class reply to a command on a path: no such file, or no
// permission, which servers do not tell apart.
func isNotFound(err error) bool {
	return isCode(err, ftp.StatusFileUnavailable) || isCode(err, ftp.StatusFileActionIgnored)
}

// pool keeps a few logged-in connections for a sender.
type pool struct {
	d     *dialer
	idle  chan *conn
	sem   chan struct{}
	keep  time.Duration // how long an idle connection is kept; 0: never
	close sync.Once
	done  chan struct{}
}

func newPool(d *dialer, size int, keep time.Duration) *pool {
	return &pool{d: d, idle: make(chan *conn, size), sem: make(chan struct{}, size), keep: keep, done: make(chan struct{})}
}

// do runs fn on a connection. A pooled connection that turns out dead (the server
// closed it while idle) is replaced once by a fresh one, which is safe because every
// fn of this package can be run again from the start.
func (p *pool) do(ctx context.Context, fn func(*conn) error) error {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.done:
		return errors.New("ftp: sender chiuso (sender closed)")
	}
	defer func() { <-p.sem }()
	for attempt := 0; ; attempt++ {
		c, reused, err := p.get(ctx)
		if err != nil {
			return err
		}
		stop := c.guard(ctx)
		err = fn(c)
		stopped := stop()
		if err == nil {
			if stopped {
				p.put(c)
			} else {
				c.close() // cut by a context that ended just as fn finished
			}
			return nil
		}
		if isReply(err) && stopped && !c.isDead() {
			p.put(c)
			return err
		}
		c.close()
		if ctx.Err() != nil {
			return ctxErr(ctx, err)
		}
		if !reused || attempt > 0 {
			return err
		}
	}
}

func (p *pool) get(ctx context.Context) (*conn, bool, error) {
	for {
		select {
		case c := <-p.idle:
			if time.Since(c.lastUsed) > p.keep || c.isDead() {
				go c.quit()
				continue
			}
			return c, true, nil
		default:
			c, err := p.d.dial(ctx)
			return c, false, err
		}
	}
}

func (p *pool) put(c *conn) {
	if p.keep <= 0 {
		go c.quit()
		return
	}
	c.lastUsed = time.Now()
	select {
	case <-p.done:
		go c.quit()
		return
	default:
	}
	select {
	case p.idle <- c:
	default:
		go c.quit()
	}
}

// shutdown closes the idle connections; connections in use close when returned.
func (p *pool) shutdown() {
	p.close.Do(func() { close(p.done) })
	for {
		select {
		case c := <-p.idle:
			c.quit()
		default:
			return
		}
	}
}

// remote path helpers

// baseDir is the endpoint folder: the URL path relative to the login folder, as in
// RFC 1738 and curl (ftp://host/in → "in"); a path starting with %2F is absolute
// (ftp://host/%2Fin → "/in").
func baseDir(p string) string {
	p = strings.TrimPrefix(p, "/")
	if p == "" || p == "/" {
		return p
	}
	return strings.TrimSuffix(p, "/")
}

// join resolves a folder setting against the endpoint folder.
func join(base, p string) string {
	if strings.HasPrefix(p, "/") {
		return cleanPath(p)
	}
	if base == "" {
		return cleanPath(p)
	}
	return cleanPath(base + "/" + p)
}

func cleanPath(p string) string {
	if p == "" {
		return ""
	}
	abs := strings.HasPrefix(p, "/")
	parts := strings.Split(p, "/")
	out := parts[:0]
	for _, s := range parts {
		switch s {
		case "", ".":
		case "..":
			if len(out) > 0 && out[len(out)-1] != ".." {
				out = out[:len(out)-1]
			} else if !abs {
				out = append(out, s)
			}
		default:
			out = append(out, s)
		}
	}
	r := strings.Join(out, "/")
	if abs {
		return "/" + r
	}
	return r
}

// file is the path of name in dir.
func file(dir, name string) string {
	if dir == "" {
		return name
	}
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// mkdirAll creates dir and its parents, ignoring the errors of folders that exist.
func mkdirAll(c *ftp.ServerConn, dir string) error {
	if dir == "" || dir == "/" {
		return nil
	}
	prefix := ""
	if strings.HasPrefix(dir, "/") {
		prefix = "/"
	}
	var err error
	for i, part := range strings.Split(strings.TrimPrefix(dir, "/"), "/") {
		if i > 0 {
			prefix += "/"
		}
		prefix += part
		if part == ".." {
			continue
		}
		if e := c.MakeDir(prefix); e != nil {
			if !isReply(e) {
				return e
			}
			err = e
		} else {
			err = nil
		}
	}
	return err
}

// retrieve downloads path into w, at most max bytes; tooBig reports a larger file
// (the transfer is abandoned, which breaks the connection: the caller drops it).
func retrieve(c *ftp.ServerConn, p string, w io.Writer, max int64) (n int64, tooBig bool, err error) {
	r, err := c.Retr(p)
	if err != nil {
		return 0, false, err
	}
	n, err = io.Copy(w, io.LimitReader(r, max+1))
	if err != nil {
		r.Close()
		return n, false, err
	}
	if n > max {
		return n, true, nil
	}
	return n, false, r.Close()
}
