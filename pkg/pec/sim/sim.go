// Package sim is a PEC provider simulator: an SMTP submission server and an IMAP server
// (go-imap v2's in-memory backend) on 127.0.0.1 that deliver between their own
// mailboxes as a certified-mail provider does. On each submission it checks what a PEC
// access point checks and answers with a signed accettazione (or non-accettazione)
// receipt to the sender; it wraps the message in a signed busta di trasporto for each
// recipient's INBOX and sends the sender an avvenuta-consegna (or errore-consegna)
// receipt per recipient.
//
// Failures are injected per recipient (SetFault): delivery error, no receipt at all,
// delayed receipts, a virus, a 12-hour timeout notice. Tests drive every path of a
// PEC channel with it over real TCP, and `snodo pec-sim` serves it to integrators.
//
// Simplifications, by design: the simulator is both the sender's and the recipients'
// provider (one signing certificate); a recipient outside the configured domains gets
// a non-accettazione (a real provider would deliver it as ordinary mail); there is no
// presa-in-carico between providers. Mailbox contents live in memory.
package sim

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-smtp"

	"snodo/pkg/pec/gestore"
	"snodo/pkg/pec/smime"
	"snodo/pkg/testpki"
)

// Security says how the simulator's ports speak.
type Security string

// Port security modes.
const (
	ImplicitTLS Security = "tls"      // SMTPS / IMAPS: TLS from the first byte (default)
	StartTLS    Security = "starttls" // plain greeting, then STARTTLS
	Plain       Security = "plain"    // no TLS; allowed only on a loopback address
)

// DefaultMaxMessageBytes is the PEC limit: 30 MB for the message times its recipients.
const DefaultMaxMessageBytes = 30_000_000

// Mailbox is one PEC box of the simulator.
type Mailbox struct {
	Address  string
	Password string
}

// Config configures a simulator. Only Mailboxes is required.
type Config struct {
	// Domains the provider serves. Empty = the domains of Mailboxes.
	Domains   []string
	Mailboxes []Mailbox
	// ProviderName is the gestore-emittente in daticert.xml.
	ProviderName string
	// ProviderDomain is where receipts come from (posta-certificata@ProviderDomain).
	// Empty = the first domain.
	ProviderDomain string
	// Signer signs envelopes and receipts. nil = a throwaway CA and signing certificate
	// (see Sim.SigningCA).
	Signer *smime.Signer
	// TLS is the server certificate. nil = a throwaway CA and a certificate for
	// 127.0.0.1 and localhost (see Sim.ClientTLS).
	TLS      *tls.Config
	Security Security
	SMTPAddr string // default 127.0.0.1:0
	IMAPAddr string // default 127.0.0.1:0
	// NoIdle hides the IDLE capability, to exercise clients' polling fallback.
	NoIdle bool
	// NoMove hides MOVE (and IMAP4rev2), as older servers do.
	NoMove bool
	// MaxMessageBytes is the PEC size limit (size × recipients); beyond it the sender
	// gets a non-accettazione. Default DefaultMaxMessageBytes. SMTP itself refuses
	// messages beyond twice the limit.
	MaxMessageBytes int64
	Logger          *slog.Logger
}

// Sim is a running simulator.
type Sim struct {
	cfg      Config
	log      *slog.Logger
	provider *gestore.Provider
	signCA   *x509.Certificate
	tlsCA    *x509.Certificate
	tlsConf  *tls.Config
	domains  map[string]bool

	mem      *imapmemserver.Server
	mu       sync.Mutex
	users    map[string]*user
	faults   map[string]*Fault
	imapSrv  *imapserver.Server
	imapLn   net.Listener
	imapAddr string
	smtpSrv  *smtp.Server
	smtpLn   net.Listener
	smtpAddr string
	wg       sync.WaitGroup
	ctx      context.Context
	cancel   context.CancelFunc
	stats    Stats
}

type user struct {
	password string
	mem      *imapmemserver.User
	// delivered keeps every message appended to INBOX, for ResetUIDValidity.
	delivered [][]byte
}

// Stats counts what the simulator did.
type Stats struct {
	Submitted, Accepted, Refused, Delivered, Receipts int
}

// Start starts the simulator's servers; they stop when ctx ends or Close is called.
func Start(ctx context.Context, cfg Config) (*Sim, error) {
	if len(cfg.Mailboxes) == 0 {
		return nil, errors.New("sim: nessuna casella configurata (no mailbox configured)")
	}
	if cfg.Security == "" {
		cfg.Security = ImplicitTLS
	}
	if cfg.SMTPAddr == "" {
		cfg.SMTPAddr = "127.0.0.1:0"
	}
	if cfg.IMAPAddr == "" {
		cfg.IMAPAddr = "127.0.0.1:0"
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.ProviderName == "" {
		cfg.ProviderName = "Gestore PEC simulato snodo"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sim{cfg: cfg, log: log.With("component", "pec-sim"), domains: map[string]bool{},
		mem: imapmemserver.New(), users: map[string]*user{}, faults: map[string]*Fault{}}
	for _, d := range cfg.Domains {
		s.domains[strings.ToLower(d)] = true
	}
	for _, m := range cfg.Mailboxes {
		if err := s.AddMailbox(m.Address, m.Password); err != nil {
			return nil, err
		}
	}
	if cfg.Security == Plain {
		for _, a := range []string{cfg.SMTPAddr, cfg.IMAPAddr} {
			if !isLoopback(a) {
				return nil, fmt.Errorf("sim: modalità senza TLS ammessa solo su 127.0.0.1, non su %s (plain mode allowed only on loopback)", a)
			}
		}
	}
	provDomain := cfg.ProviderDomain
	if provDomain == "" {
		provDomain = strings.ToLower(firstDomain(cfg))
	}
	signer := cfg.Signer
	if signer == nil {
		ca, err := testpki.NewCA("CA gestori PEC simulati snodo", testpki.Options{})
		if err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
		iss, err := ca.Signing(cfg.ProviderName, testpki.Options{Email: []string{"posta-certificata@" + provDomain}})
		if err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
		signer = &smime.Signer{Cert: iss.Cert, Key: iss.Key, Chain: iss.Chain}
		s.signCA = ca.Cert
	}
	s.provider = &gestore.Provider{Name: cfg.ProviderName, Domain: provDomain, Signer: *signer}
	if cfg.Security != Plain {
		s.tlsConf = cfg.TLS
		if s.tlsConf == nil {
			ca, err := testpki.NewCA("CA TLS simulatore PEC snodo", testpki.Options{})
			if err != nil {
				return nil, fmt.Errorf("sim: %w", err)
			}
			srv, err := ca.Server("127.0.0.1", testpki.Options{})
			if err != nil {
				return nil, fmt.Errorf("sim: %w", err)
			}
			s.tlsCA = ca.Cert
			s.tlsConf = &tls.Config{Certificates: []tls.Certificate{srv.TLS()}, MinVersion: tls.VersionTLS12}
		}
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	if err := s.startSMTP(); err != nil {
		s.cancel()
		return nil, err
	}
	if err := s.StartIMAP(); err != nil {
		s.Close()
		return nil, err
	}
	go func() {
		<-s.ctx.Done()
		s.shutdown()
	}()
	s.log.Info("simulatore PEC avviato", "smtp", s.smtpAddr, "imap", s.imapAddr, "security", cfg.Security, "domains", s.domainList())
	return s, nil
}

func firstDomain(cfg Config) string {
	if len(cfg.Domains) > 0 {
		return cfg.Domains[0]
	}
	_, d, _ := strings.Cut(cfg.Mailboxes[0].Address, "@")
	return d
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Sim) domainList() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for d := range s.domains {
		out = append(out, d)
	}
	return out
}

// AddMailbox creates a mailbox (with its INBOX); its domain becomes a served domain.
func (s *Sim) AddMailbox(address, password string) error {
	address = strings.ToLower(strings.TrimSpace(address))
	local, domain, ok := strings.Cut(address, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(address, " <>\r\n") {
		return fmt.Errorf("sim: indirizzo di casella %q non valido (invalid mailbox address)", address)
	}
	if password == "" {
		return fmt.Errorf("sim: casella %s senza password (mailbox without password)", address)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.users[address]; dup {
		return fmt.Errorf("sim: casella %s già presente (mailbox already exists)", address)
	}
	u := imapmemserver.NewUser(address, password)
	if err := u.Create("INBOX", nil); err != nil {
		return fmt.Errorf("sim: INBOX di %s: %w", address, err)
	}
	s.mem.AddUser(u)
	s.users[address] = &user{password: password, mem: u}
	s.domains[domain] = true
	return nil
}

// SMTPAddr returns the SMTP submission address (host:port).
func (s *Sim) SMTPAddr() string { return s.smtpAddr }

// IMAPAddr returns the IMAP address (host:port).
func (s *Sim) IMAPAddr() string { return s.imapAddr }

// Security returns the port security mode.
func (s *Sim) Security() Security { return s.cfg.Security }

// ClientTLS returns a TLS client configuration trusting the simulator's certificate
// (nil in Plain mode).
func (s *Sim) ClientTLS() *tls.Config {
	if s.cfg.Security == Plain {
		return nil
	}
	pool := x509.NewCertPool()
	if s.tlsCA != nil {
		pool.AddCert(s.tlsCA)
	} else if len(s.tlsConf.Certificates) > 0 && s.tlsConf.Certificates[0].Leaf != nil {
		pool.AddCert(s.tlsConf.Certificates[0].Leaf)
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// TLSCA returns the CA of the generated TLS certificate (nil when Config.TLS was given).
func (s *Sim) TLSCA() *x509.Certificate { return s.tlsCA }

// SigningCA returns the CA of the generated signing certificate (nil when Config.Signer
// was given): put it in a hub's PEC trust store.
func (s *Sim) SigningCA() *x509.Certificate { return s.signCA }

// TrustStore returns a trust store that verifies the simulator's signatures.
func (s *Sim) TrustStore() *smime.TrustStore {
	if s.signCA != nil {
		return smime.NewTrustStore(s.signCA)
	}
	return smime.NewTrustStore(s.provider.Signer.Cert)
}

// Provider returns the provider identity the simulator signs with.
func (s *Sim) Provider() *gestore.Provider { return s.provider }

// Stats returns counters of what the simulator did.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Deliver appends raw to the INBOX of address as it is (no envelope): the way to put
// arbitrary mail, malformed or hostile, in front of a consumer.
func (s *Sim) Deliver(address string, raw []byte) error {
	if err := s.appendInbox(strings.ToLower(address), raw); err != nil {
		return err
	}
	s.mu.Lock()
	s.stats.Delivered++
	s.mu.Unlock()
	return nil
}

func (s *Sim) appendInbox(address string, raw []byte) error {
	s.mu.Lock()
	u := s.users[address]
	s.mu.Unlock()
	if u == nil {
		return fmt.Errorf("sim: casella %s inesistente (no such mailbox)", address)
	}
	if _, err := u.mem.Append("INBOX", bytes.NewReader(raw), &imap.AppendOptions{Time: time.Now()}); err != nil {
		return fmt.Errorf("sim: append to %s: %w", address, err)
	}
	s.mu.Lock()
	u.delivered = append(u.delivered, raw)
	s.mu.Unlock()
	return nil
}

// ResetUIDValidity recreates the INBOX of address with every message ever delivered to
// it and no flags, as a mailbox restored from a backup: the UIDVALIDITY changes and
// processed messages reappear. A consumer must recognise them by Message-ID.
func (s *Sim) ResetUIDValidity(address string) error {
	address = strings.ToLower(address)
	s.mu.Lock()
	u := s.users[address]
	var msgs [][]byte
	if u != nil {
		msgs = append(msgs, u.delivered...)
	}
	s.mu.Unlock()
	if u == nil {
		return fmt.Errorf("sim: casella %s inesistente (no such mailbox)", address)
	}
	if err := u.mem.Delete("INBOX"); err != nil {
		return fmt.Errorf("sim: reset %s: %w", address, err)
	}
	if err := u.mem.Create("INBOX", nil); err != nil {
		return fmt.Errorf("sim: reset %s: %w", address, err)
	}
	for _, m := range msgs {
		if _, err := u.mem.Append("INBOX", bytes.NewReader(m), &imap.AppendOptions{Time: time.Now()}); err != nil {
			return fmt.Errorf("sim: reset %s: %w", address, err)
		}
	}
	return nil
}

// StartIMAP (re)starts the IMAP server on its address; mailboxes keep their content.
func (s *Sim) StartIMAP() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.imapSrv != nil {
		return nil
	}
	addr := s.cfg.IMAPAddr
	if s.imapAddr != "" {
		addr = s.imapAddr
	}
	var ln net.Listener
	var err error
	for range 50 { // a restarted server may briefly find its port in TIME_WAIT
		if s.cfg.Security == ImplicitTLS {
			ln, err = tls.Listen("tcp", addr, s.tlsConf)
		} else {
			ln, err = net.Listen("tcp", addr)
		}
		if err == nil || s.imapAddr == "" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("sim: IMAP listen %s: %w", addr, err)
	}
	caps := imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}
	if s.cfg.NoIdle || s.cfg.NoMove {
		caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}
		if !s.cfg.NoIdle {
			caps[imap.CapIdle] = struct{}{}
		}
		if !s.cfg.NoMove {
			caps[imap.CapMove] = struct{}{}
		}
	}
	opts := &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return s.mem.NewSession(), nil, nil
		},
		Caps:         caps,
		Logger:       slogPrintf{s.log},
		InsecureAuth: s.cfg.Security == Plain,
	}
	if s.cfg.Security == StartTLS {
		opts.TLSConfig = s.tlsConf
	}
	srv := imapserver.New(opts)
	s.imapSrv, s.imapLn = srv, ln
	s.imapAddr = ln.Addr().String()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil {
			s.log.Warn("IMAP server stopped", "err", err)
		}
	}()
	return nil
}

// StopIMAP stops the IMAP server and drops every IMAP connection (a server crash, as
// clients see it). StartIMAP brings it back on the same address.
func (s *Sim) StopIMAP() {
	s.mu.Lock()
	srv, ln := s.imapSrv, s.imapLn
	s.imapSrv, s.imapLn = nil, nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
		// Serve may not have registered the listener yet: close it here too.
		_ = ln.Close()
	}
}

func (s *Sim) startSMTP() error {
	srv := smtp.NewServer(&backend{s})
	srv.Domain = s.provider.Domain
	srv.MaxMessageBytes = 2 * s.cfg.MaxMessageBytes
	srv.MaxRecipients = 100
	srv.ReadTimeout = 2 * time.Minute
	srv.WriteTimeout = 2 * time.Minute
	srv.ErrorLog = slogPrintf{s.log}
	var ln net.Listener
	var err error
	switch s.cfg.Security {
	case ImplicitTLS:
		ln, err = tls.Listen("tcp", s.cfg.SMTPAddr, s.tlsConf)
	case StartTLS:
		srv.TLSConfig = s.tlsConf
		ln, err = net.Listen("tcp", s.cfg.SMTPAddr)
	case Plain:
		srv.AllowInsecureAuth = true
		ln, err = net.Listen("tcp", s.cfg.SMTPAddr)
	default:
		return fmt.Errorf("sim: sicurezza %q non prevista: tls, starttls o plain (unknown security mode)", s.cfg.Security)
	}
	if err != nil {
		return fmt.Errorf("sim: SMTP listen %s: %w", s.cfg.SMTPAddr, err)
	}
	s.smtpSrv, s.smtpLn = srv, ln
	s.smtpAddr = ln.Addr().String()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			s.log.Warn("SMTP server stopped", "err", err)
		}
	}()
	return nil
}

// Close stops the servers and waits for pending delayed receipts to be abandoned.
func (s *Sim) Close() error {
	s.cancel()
	s.shutdown()
	s.wg.Wait()
	return nil
}

func (s *Sim) shutdown() {
	if s.smtpSrv != nil {
		_ = s.smtpSrv.Close()
		// Serve may not have registered the listener yet: close it here too.
		_ = s.smtpLn.Close()
	}
	s.StopIMAP()
}

// slogPrintf adapts slog to the Printf loggers of go-smtp and go-imap.
type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, v ...any) { p.l.Debug(fmt.Sprintf(format, v...)) }
func (p slogPrintf) Println(v ...any)               { p.l.Debug(strings.TrimSpace(fmt.Sprintln(v...))) }
