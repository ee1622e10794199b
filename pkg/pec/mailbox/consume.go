package mailbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"mime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/charset"

	"snodo/pkg/pec"
)

// Ack says what the consumer does on the server with a message once it is committed.
type Ack string

// Acknowledgement modes.
const (
	// AckFlag sets \Seen and the keyword $Processed; the consumer looks only at
	// messages without $Processed, so a person reading the box in a webmail (which sets
	// \Seen) takes nothing away from the hub.
	AckFlag Ack = "flag"
	// AckMove moves the message to IMAPConfig.MoveTo; every message left in the folder
	// is to be processed.
	AckMove Ack = "move"
)

// KeywordProcessed marks a message the hub has committed (AckFlag).
const KeywordProcessed imap.Flag = "$Processed"

// KeywordQuarantined marks a quarantined message on a server without MOVE.
const KeywordQuarantined imap.Flag = "$Quarantined"

// QuarantineError, returned by a Handler, sets a message aside instead of handing it
// over again: the consumer moves it to IMAPConfig.Quarantine with a note beside it that
// says why (or, without MOVE, flags it $Quarantined), and goes on. The message stays on
// the server, whole: nothing is lost, and an operator finds it with its reason.
type QuarantineError struct{ Reason string }

func (e *QuarantineError) Error() string { return "quarantena (quarantine): " + e.Reason }

// Quarantine returns a QuarantineError with reason (Italian, then English).
func Quarantine(reason string) error { return &QuarantineError{Reason: reason} }

// LaterError, returned by a Handler, asks for the message again after After: it is not
// a failure (a receipt that arrived before the hub recorded what it waits for).
type LaterError struct {
	Reason string
	After  time.Duration
}

func (e *LaterError) Error() string { return "da riprendere (retry later): " + e.Reason }

// Later returns a LaterError.
func Later(reason string, after time.Duration) error {
	return &LaterError{Reason: reason, After: after}
}

// IMAPConfig configures a Consumer.
type IMAPConfig struct {
	Endpoint
	Mailbox string // folder to read; default "INBOX"
	Ack     Ack    // default AckFlag
	MoveTo  string // destination for AckMove (created when missing); default "Processed"
	// Quarantine is the folder for messages the handler quarantines (created when
	// missing); default "Quarantena".
	Quarantine string
	// PollInterval is the polling period: the only trigger when the server has no
	// IDLE, a safety net beside IDLE otherwise. Default 30 s.
	PollInterval time.Duration
	// DisableIdle skips IDLE even when the server offers it.
	DisableIdle bool
	// BackoffMin and BackoffMax bound the wait between reconnections and retries
	// (exponential with jitter). Defaults 1 s and 2 min.
	BackoffMin, BackoffMax time.Duration
	// MaxSize: a larger message is not downloaded whole; the handler gets its first
	// 64 KiB with Oversize set, to record (and quarantine) it. Default pec.DefaultMaxSize.
	MaxSize int64
	// Known, when set, is asked after a UIDVALIDITY change whether a Message-ID was
	// already committed; known messages are acknowledged without being downloaded or
	// handed over again.
	Known func(ctx context.Context, messageID string) (bool, error)
	// State keeps the last UIDVALIDITY across restarts; default in memory.
	State StateStore
}

// StateStore persists the UIDVALIDITY a consumer last saw for a folder. key names the
// account and folder.
type StateStore interface {
	LoadUIDValidity(ctx context.Context, key string) (uint32, error)
	SaveUIDValidity(ctx context.Context, key string, v uint32) error
}

// MemoryState is a StateStore in memory.
type MemoryState struct {
	mu sync.Mutex
	m  map[string]uint32
}

// LoadUIDValidity implements StateStore.
func (s *MemoryState) LoadUIDValidity(_ context.Context, key string) (uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key], nil
}

// SaveUIDValidity implements StateStore.
func (s *MemoryState) SaveUIDValidity(_ context.Context, key string, v uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]uint32{}
	}
	s.m[key] = v
	return nil
}

// Delivery is one message handed to the Handler.
type Delivery struct {
	Mailbox      string
	UIDValidity  uint32
	UID          uint32
	MessageID    string // from the message's header, normalised with angle brackets; "" if absent
	Size         int64
	InternalDate time.Time
	Raw          []byte // the message exactly as stored; only the first 64 KiB when Oversize
	Oversize     bool   // bigger than IMAPConfig.MaxSize: Raw is truncated
	// Rescan is set for messages met again after a UIDVALIDITY change: they may have
	// been committed already, under other UIDs.
	Rescan bool
}

// Key identifies the message for deduplication: its Message-ID, or a digest of its
// bytes when it has none.
func (d *Delivery) Key() string {
	if d.MessageID != "" {
		return d.MessageID
	}
	sum := sha256.Sum256(d.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Handler receives each message. The contract:
//   - return nil only after the message is durably committed (a message that cannot be
//     parsed is committed too, as quarantined with its reason: a returned error is for
//     a failure that a retry can fix, such as the store being unavailable);
//   - the same message may be handed over again (after a crash between commit and
//     acknowledgement, a dropped connection, a UIDVALIDITY change): the handler must
//     recognise it by Delivery.Key and return nil without importing it twice.
//
// The consumer acknowledges the message on the server only after nil, and never when
// its context was cancelled meanwhile.
type Handler func(ctx context.Context, d *Delivery) error

// Consumer reads a folder and hands each message to a Handler. A dedicated connection
// stays in IDLE (when offered) to learn of new mail at once; a second one fetches,
// hands over and acknowledges, on every IDLE signal and every PollInterval.
type Consumer struct {
	cfg     IMAPConfig
	handler Handler
	log     *slog.Logger
	key     string
	wake    chan struct{}

	mu          sync.Mutex
	connected   bool
	lastErr     error
	handled     int
	quarantined int
	failed      map[uint32]retry // per UID, this UIDVALIDITY
	validity    uint32
	// rescanBelow: after a UIDVALIDITY change, messages with a lower UID were present
	// at the change and may have been committed already.
	rescanBelow imap.UID
}

type retry struct {
	n    int
	next time.Time
}

// NewConsumer checks cfg and returns a Consumer; Run starts it.
func NewConsumer(cfg IMAPConfig, h Handler, log *slog.Logger) (*Consumer, error) {
	if err := cfg.check("IMAP"); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("mailbox: IMAP: handler mancante (handler missing)")
	}
	if cfg.Mailbox == "" {
		cfg.Mailbox = "INBOX"
	}
	switch cfg.Ack {
	case "":
		cfg.Ack = AckFlag
	case AckFlag:
	case AckMove:
		if cfg.MoveTo == "" {
			cfg.MoveTo = "Processed"
		}
		if cfg.MoveTo == cfg.Mailbox {
			return nil, fmt.Errorf("mailbox: IMAP %s: la cartella di destinazione coincide con quella letta (MoveTo equals Mailbox)", cfg.Addr)
		}
	default:
		return nil, fmt.Errorf("mailbox: IMAP %s: ack %q non previsto: flag o move (unknown ack mode)", cfg.Addr, cfg.Ack)
	}
	if cfg.Quarantine == "" {
		cfg.Quarantine = "Quarantena"
	}
	if cfg.Quarantine == cfg.Mailbox || (cfg.Ack == AckMove && cfg.Quarantine == cfg.MoveTo) {
		return nil, fmt.Errorf("mailbox: IMAP %s: la cartella di quarantena deve essere diversa dalle altre (quarantine folder must differ)", cfg.Addr)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 30 * time.Second
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = time.Second
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(2*time.Minute, cfg.BackoffMin)
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = pec.DefaultMaxSize
	}
	if cfg.State == nil {
		cfg.State = &MemoryState{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	key := cfg.Username + "@" + cfg.Addr + "/" + cfg.Mailbox
	return &Consumer{cfg: cfg, handler: h, key: key, wake: make(chan struct{}, 1), failed: map[uint32]retry{},
		log: log.With("component", "pec-imap", "server", cfg.Addr, "user", cfg.Username, "mailbox", cfg.Mailbox)}, nil
}

// Poke asks for a fetch cycle now.
func (c *Consumer) Poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Status reports whether the fetching connection is up, the last error and how many
// messages were handed over and acknowledged.
func (c *Consumer) Status() (connected bool, lastErr error, handled int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected, c.lastErr, c.handled
}

func (c *Consumer) setStatus(connected bool, err error) {
	c.mu.Lock()
	c.connected, c.lastErr = connected, err
	c.mu.Unlock()
}

// Run consumes until ctx ends; it returns nil then. Connection failures are retried
// with bounded exponential backoff and logged; they never end Run.
func (c *Consumer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if !c.cfg.DisableIdle {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.idleLoop(ctx)
		}()
	}
	c.fetchLoop(ctx)
	wg.Wait()
	return nil
}

func (c *Consumer) backoff(attempt int) time.Duration {
	d := c.cfg.BackoffMin << min(attempt, 20)
	if d > c.cfg.BackoffMax || d <= 0 {
		d = c.cfg.BackoffMax
	}
	// full jitter on the upper half, so reconnecting consumers spread out
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// connect dials and logs in. The client is closed when ctx ends.
func (c *Consumer) connect(ctx context.Context, handler *imapclient.UnilateralDataHandler) (*imapclient.Client, func(), error) {
	conn, err := c.cfg.dial(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("connessione a %s: %w (connect)", c.cfg.Addr, err)
	}
	opts := &imapclient.Options{
		TLSConfig:             c.cfg.tlsConfig(),
		UnilateralDataHandler: handler,
		WordDecoder:           &mime.WordDecoder{CharsetReader: charset.Reader},
	}
	var cl *imapclient.Client
	if c.cfg.Security == StartTLS {
		cl, err = imapclient.NewStartTLS(conn, opts)
		if err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("STARTTLS con %s: %w", c.cfg.Addr, err)
		}
	} else {
		cl = imapclient.New(conn, opts)
	}
	stop := context.AfterFunc(ctx, func() { cl.Close() })
	closer := func() {
		stop()
		cl.Close()
	}
	if err := cl.WaitGreeting(); err != nil {
		closer()
		return nil, nil, fmt.Errorf("saluto di %s: %w (greeting)", c.cfg.Addr, err)
	}
	if err := cl.Login(c.cfg.Username, c.cfg.Password).Wait(); err != nil {
		closer()
		return nil, nil, fmt.Errorf("login come %s: %w: verificare utente e password (check username and password)", c.cfg.Username, err)
	}
	return cl, closer, nil
}

// idleLoop keeps a connection in IDLE on the folder and pokes the fetcher on news.
func (c *Consumer) idleLoop(ctx context.Context) {
	attempt := 0
	for ctx.Err() == nil {
		handler := &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					c.Poke()
				}
			},
		}
		cl, closer, err := c.connect(ctx, handler)
		if err == nil {
			if !cl.Caps().Has(imap.CapIdle) && !cl.Caps().Has(imap.CapIMAP4rev2) {
				closer()
				c.log.Info("il server non offre IDLE: solo polling (server offers no IDLE: polling only)", "interval", c.cfg.PollInterval)
				return
			}
			if _, err = cl.Select(c.cfg.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err == nil {
				var idle *imapclient.IdleCommand
				if idle, err = cl.Idle(); err == nil {
					attempt = 0
					c.Poke() // anything that arrived while we were away
					select {
					case <-ctx.Done():
						_ = idle.Close()
					case <-cl.Closed():
						err = errors.New("connessione IDLE chiusa dal server (IDLE connection closed by the server)")
					}
				}
			}
			closer()
		}
		if ctx.Err() != nil {
			return
		}
		d := c.backoff(attempt)
		attempt++
		c.log.Warn("IDLE interrotto: riconnessione (IDLE interrupted: reconnecting)", "err", err, "retry_in", d)
		if !sleep(ctx, d) {
			return
		}
	}
}

// fetchLoop runs fetch cycles on IDLE signals and on the poll timer, reconnecting with
// backoff.
func (c *Consumer) fetchLoop(ctx context.Context) {
	attempt := 0
	for ctx.Err() == nil {
		cl, closer, err := c.connect(ctx, nil)
		if err == nil {
			err = c.session(ctx, cl, &attempt)
			closer()
		}
		if ctx.Err() != nil {
			c.setStatus(false, nil)
			return
		}
		c.setStatus(false, err)
		d := c.backoff(attempt)
		attempt++
		c.log.Warn("IMAP non disponibile: riconnessione (IMAP unavailable: reconnecting)", "err", err, "retry_in", d)
		if !sleep(ctx, d) {
			return
		}
	}
}

// session runs cycles on one connection until it fails or ctx ends.
func (c *Consumer) session(ctx context.Context, cl *imapclient.Client, attempt *int) error {
	if c.cfg.Ack == AckMove {
		if !cl.Caps().Has(imap.CapMove) && !cl.Caps().Has(imap.CapIMAP4rev2) {
			return fmt.Errorf("il server non offre MOVE: usare ack flag (server offers no MOVE: use ack flag)")
		}
		if err := cl.Create(c.cfg.MoveTo, nil).Wait(); err != nil {
			var ie *imap.Error
			if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeAlreadyExists {
				// Many servers answer NO without a code for an existing folder; a real
				// problem shows at the first MOVE.
				c.log.Debug("CREATE destinazione", "folder", c.cfg.MoveTo, "err", err)
			}
		}
	}
	c.setStatus(true, nil)
	c.log.Info("IMAP connesso (IMAP connected)")
	poll := time.NewTicker(c.cfg.PollInterval)
	defer poll.Stop()
	for {
		retryIn, err := c.cycle(ctx, cl)
		if err != nil {
			return err
		}
		*attempt = 0
		var retryC <-chan time.Time
		var t *time.Timer
		if retryIn > 0 {
			t = time.NewTimer(retryIn)
			retryC = t.C
		}
		var closed bool
		select {
		case <-ctx.Done():
		case <-cl.Closed():
			closed = true
		case <-c.wake:
		case <-poll.C:
		case <-retryC:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
		if closed {
			return errors.New("connessione chiusa dal server (connection closed by the server)")
		}
	}
}

// cycle selects the folder, checks UIDVALIDITY, and processes every message not yet
// acknowledged. It returns how soon to come back for messages whose handler failed.
func (c *Consumer) cycle(ctx context.Context, cl *imapclient.Client) (time.Duration, error) {
	sel, err := cl.Select(c.cfg.Mailbox, nil).Wait()
	if err != nil {
		return 0, fmt.Errorf("SELECT %s: %w", c.cfg.Mailbox, err)
	}
	if c.cfg.Ack == AckFlag && !slices.Contains(sel.PermanentFlags, imap.FlagWildcard) && !slices.Contains(sel.PermanentFlags, KeywordProcessed) {
		return 0, fmt.Errorf("la cartella %s non accetta la parola chiave %s: usare ack move (folder does not accept the %s keyword: use ack move)", c.cfg.Mailbox, KeywordProcessed, KeywordProcessed)
	}
	rescanBelow, err := c.checkValidity(ctx, sel.UIDValidity, sel.UIDNext)
	if err != nil {
		return 0, err
	}
	crit := &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted, KeywordQuarantined}}
	if c.cfg.Ack == AckFlag {
		crit.NotFlag = append(crit.NotFlag, KeywordProcessed)
	}
	sd, err := cl.UIDSearch(crit, nil).Wait()
	if err != nil {
		return 0, fmt.Errorf("SEARCH: %w", err)
	}
	uids := sd.AllUIDs()
	if len(uids) == 0 {
		return 0, nil
	}
	slices.Sort(uids)
	// Envelope data first (small), bodies one at a time (bounded memory).
	metas, err := cl.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, RFC822Size: true, InternalDate: true, Envelope: true}).Collect()
	if err != nil {
		return 0, fmt.Errorf("FETCH intestazioni: %w", err)
	}
	slices.SortFunc(metas, func(a, b *imapclient.FetchMessageBuffer) int { return int(a.UID) - int(b.UID) })
	var retryIn time.Duration
	for _, m := range metas {
		if ctx.Err() != nil {
			return 0, nil
		}
		uid := uint32(m.UID)
		rescan := m.UID < rescanBelow
		c.mu.Lock()
		r, failing := c.failed[uid]
		c.mu.Unlock()
		if failing && time.Now().Before(r.next) {
			retryIn = minPositive(retryIn, time.Until(r.next))
			continue
		}
		msgID := ""
		if m.Envelope != nil {
			msgID = pec.NormalizeMessageID(m.Envelope.MessageID)
		}
		log := c.log.With("uid", uid, "uidvalidity", sel.UIDValidity, "message_id", msgID)
		if rescan && msgID != "" && c.cfg.Known != nil {
			known, err := c.cfg.Known(ctx, msgID)
			if err != nil {
				return 0, fmt.Errorf("verifica Message-ID %s: %w", msgID, err)
			}
			if known {
				if err := c.ack(cl, m.UID); err != nil {
					return 0, err
				}
				log.Info("già importato prima del cambio di UIDVALIDITY: solo riconosciuto (already imported before the UIDVALIDITY change: acknowledged only)")
				continue
			}
		}
		d := &Delivery{Mailbox: c.cfg.Mailbox, UIDValidity: sel.UIDValidity, UID: uid, MessageID: msgID,
			Size: m.RFC822Size, InternalDate: m.InternalDate, Rescan: rescan}
		section := &imap.FetchItemBodySection{Peek: true}
		if m.RFC822Size > c.cfg.MaxSize {
			d.Oversize = true
			section.Partial = &imap.SectionPartial{Offset: 0, Size: 64 << 10}
		}
		bufs, err := cl.Fetch(imap.UIDSetNum(m.UID), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			return 0, fmt.Errorf("FETCH UID %d: %w", uid, err)
		}
		if len(bufs) == 0 {
			continue // expunged meanwhile
		}
		d.Raw = bufs[0].FindBodySection(section)
		if d.Oversize {
			log.Warn("messaggio oltre la dimensione massima: consegnato troncato per la quarantena (message beyond the maximum size: handed over truncated for quarantine)", "size", m.RFC822Size, "max", c.cfg.MaxSize)
		}
		herr := c.handler(ctx, d)
		var qe *QuarantineError
		if errors.As(herr, &qe) {
			if ctx.Err() != nil {
				return 0, nil
			}
			if err := c.quarantine(cl, m, d, qe.Reason); err != nil {
				return 0, err
			}
			c.mu.Lock()
			delete(c.failed, uid)
			c.quarantined++
			c.mu.Unlock()
			log.Error("messaggio in quarantena (message quarantined)", "reason", qe.Reason, "folder", c.cfg.Quarantine)
			continue
		}
		if err := herr; err != nil {
			var le *LaterError
			c.mu.Lock()
			r := c.failed[uid]
			r.n++
			wait := c.backoff(r.n - 1)
			if errors.As(err, &le) && le.After > 0 {
				wait = le.After
			}
			r.next = time.Now().Add(wait)
			c.failed[uid] = r
			c.mu.Unlock()
			retryIn = minPositive(retryIn, wait)
			if le != nil {
				log.Info("messaggio da riprendere più tardi (message to be handed over again later)", "reason", le.Reason, "retry_in", wait)
			} else {
				log.Error("messaggio non acquisito: sarà ripresentato (message not committed: it will be handed over again)", "err", err, "attempt", r.n, "retry_in", wait)
			}
			continue
		}
		if ctx.Err() != nil {
			// Shutting down between commit and acknowledgement: leave it; it comes back
			// and the handler recognises it.
			return 0, nil
		}
		if err := c.ack(cl, m.UID); err != nil {
			return 0, err
		}
		c.mu.Lock()
		delete(c.failed, uid)
		c.handled++
		c.mu.Unlock()
		log.Info("messaggio acquisito e riconosciuto (message committed and acknowledged)", "size", m.RFC822Size, "ack", c.cfg.Ack)
	}
	return retryIn, nil
}

// Quarantined counts the messages quarantined since the consumer started.
func (c *Consumer) Quarantined() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.quarantined
}

// quarantine files a note with the reason in the quarantine folder and moves the
// message there (or flags it $Quarantined when the server has no MOVE).
func (c *Consumer) quarantine(cl *imapclient.Client, m *imapclient.FetchMessageBuffer, d *Delivery, reason string) error {
	set := imap.UIDSetNum(m.UID)
	if !cl.Caps().Has(imap.CapMove) && !cl.Caps().Has(imap.CapIMAP4rev2) {
		if err := cl.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen, KeywordQuarantined}}, nil).Close(); err != nil {
			return fmt.Errorf("STORE %s UID %d: %w", KeywordQuarantined, m.UID, err)
		}
		return nil
	}
	if err := cl.Create(c.cfg.Quarantine, nil).Wait(); err != nil {
		c.log.Debug("CREATE quarantena", "folder", c.cfg.Quarantine, "err", err)
	}
	subject := d.MessageID
	if m.Envelope != nil && m.Envelope.Subject != "" {
		subject = m.Envelope.Subject
	}
	note := quarantineNote(c.cfg.Username, d, subject, reason)
	ap := cl.Append(c.cfg.Quarantine, int64(len(note)), &imap.AppendOptions{Flags: []imap.Flag{KeywordQuarantined}})
	if _, err := ap.Write(note); err != nil {
		ap.Close()
		return fmt.Errorf("APPEND nota di quarantena: %w", err)
	}
	if err := ap.Close(); err != nil {
		return fmt.Errorf("APPEND nota di quarantena: %w", err)
	}
	if _, err := ap.Wait(); err != nil {
		return fmt.Errorf("APPEND nota di quarantena in %s: %w", c.cfg.Quarantine, err)
	}
	if _, err := cl.Move(set, c.cfg.Quarantine).Wait(); err != nil {
		return fmt.Errorf("MOVE UID %d in %s: %w", m.UID, c.cfg.Quarantine, err)
	}
	return nil
}

// quarantineNote is the message filed beside a quarantined one: what, when, why.
func quarantineNote(user string, d *Delivery, subject, reason string) []byte {
	var b strings.Builder
	clean := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	id := d.MessageID
	if id == "" {
		id = "(senza Message-ID)"
	}
	fmt.Fprintf(&b, "From: snodo <%s>\r\nTo: <%s>\r\n", clean(user), clean(user))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", clean("QUARANTENA: "+subject)))
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <quarantena.%d.%d.%d@snodo.invalid>\r\n", time.Now().Format(time.RFC1123Z), d.UIDValidity, d.UID, time.Now().UnixNano())
	fmt.Fprintf(&b, "X-Snodo-Quarantena: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n", clean(id))
	fmt.Fprintf(&b, "Il messaggio %s (UID %d, %d byte) è stato messo in quarantena da snodo.\r\n", id, d.UID, d.Size)
	fmt.Fprintf(&b, "The message %s was quarantined by snodo.\r\n\r\nMotivo (reason):\r\n%s\r\n\r\n", id, strings.ReplaceAll(clean(reason), "; ", ";\r\n"))
	b.WriteString("Il messaggio originale è in questa cartella, intatto: correggere la causa e riportarlo nella cartella di origine per un nuovo tentativo.\r\n")
	b.WriteString("(The original is in this folder, untouched: fix the cause and move it back to retry.)\r\n")
	return []byte(b.String())
}

func minPositive(a, b time.Duration) time.Duration {
	if a <= 0 || b < a {
		return max(b, time.Millisecond)
	}
	return a
}

func (c *Consumer) ack(cl *imapclient.Client, uid imap.UID) error {
	set := imap.UIDSetNum(uid)
	if c.cfg.Ack == AckMove {
		if _, err := cl.Move(set, c.cfg.MoveTo).Wait(); err != nil {
			return fmt.Errorf("MOVE UID %d in %s: %w", uid, c.cfg.MoveTo, err)
		}
		return nil
	}
	if err := cl.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen, KeywordProcessed}}, nil).Close(); err != nil {
		return fmt.Errorf("STORE UID %d: %w", uid, err)
	}
	return nil
}

// checkValidity compares the folder's UIDVALIDITY with the one last seen. A change
// means every UID is void: the messages present at the change (UIDs below the
// UIDNEXT then) are a rescan, matched by Message-ID and never imported again. It
// returns that bound (0 when there is no rescan).
func (c *Consumer) checkValidity(ctx context.Context, v uint32, uidNext imap.UID) (imap.UID, error) {
	c.mu.Lock()
	cur, below := c.validity, c.rescanBelow
	c.mu.Unlock()
	if cur == v && cur != 0 {
		return below, nil
	}
	saved, err := c.cfg.State.LoadUIDValidity(ctx, c.key)
	if err != nil {
		return 0, fmt.Errorf("stato UIDVALIDITY: %w", err)
	}
	below = 0
	if saved != 0 && saved != v {
		below = uidNext
		if below == 0 {
			below = imap.UID(^uint32(0))
		}
		c.log.Warn("UIDVALIDITY cambiato: riscansione per Message-ID, nessuna reimportazione (UIDVALIDITY changed: rescanning by Message-ID, nothing imported twice)", "old", saved, "new", v)
	}
	if saved != v {
		if err := c.cfg.State.SaveUIDValidity(ctx, c.key, v); err != nil {
			return 0, fmt.Errorf("stato UIDVALIDITY: %w", err)
		}
	}
	c.mu.Lock()
	c.validity, c.rescanBelow = v, below
	c.failed = map[uint32]retry{}
	c.mu.Unlock()
	return below, nil
}
