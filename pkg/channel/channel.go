// Package channel defines the two sides of a transport — Receiver (listens or polls and
// hands each item to the store) and Sender (delivers one message) — and the registry of
// channel kinds (fs, ftp, pec, ws, ...), each implemented in its own sub-package.
//
// The contract that keeps messages from being lost:
//   - A Receiver acknowledges its source (deletes or moves the file, flags the mail,
//     answers the SOAP call) only after Sink.Accept returned nil, which happens only
//     after the store committed. Every item carries a DedupKey that stays the same when
//     the source hands the same item over again (after a crash between commit and
//     acknowledgement), so the store recognises it instead of storing it twice.
//   - A Sender is idempotent where the target allows: the same Delivery sent twice
//     leaves one result (a deterministic file name overwritten, an id the peer dedups).
//     It returns an error for anything that is not certainly done; the engine retries.
package channel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"time"

	"snodo/pkg/message"
)

// Endpoint is a channel endpoint resolved from a route file: where and how to connect.
type Endpoint struct {
	// Name identifies the endpoint in logs and errors: "<ente>/<phase>".
	Name string
	Kind string
	URL  *url.URL
	// Settings holds the kind-specific settings decoded from the route file: the value
	// returned by the kind's NewSettings, filled in.
	Settings any
	// Username and Password are resolved credentials (from ${ENV} or a file).
	Username, Password string
	TLS                TLS
}

// TLS holds the TLS settings of an endpoint; file paths are resolved by the route loader.
type TLS struct {
	CAFile     string // PEM bundle or folder of trusted CAs; system roots when empty
	CertFile   string // client certificate (mutual TLS)
	KeyFile    string
	MinVersion string // "1.2" (default) or "1.3"
	ServerName string // expected name when it differs from the URL host
	// InsecureSkipVerify is refused by the route loader outside local test setups.
	InsecureSkipVerify bool
}

// Delivery is one message to deliver.
type Delivery struct {
	MessageID message.ID
	Ente      string
	Phase     string // route phase, e.g. "passive.protocol"
	// FileName is the deterministic name of the main file at the target; a redelivery
	// uses the same name.
	FileName string
	// Files are the files to deliver, the main file first, with their data loaded.
	Files   []message.File
	Headers map[string]string
	// Subject is a human-readable title (PEC subject, report titles).
	Subject string
	// Attempt counts delivery attempts of this job, starting at 1.
	Attempt int
}

// Main returns the main file of the delivery.
func (d *Delivery) Main() *message.File {
	if len(d.Files) == 0 {
		return nil
	}
	return &d.Files[0]
}

// Result is what a successful Send tells the hub.
type Result struct {
	// Headers are kept on the message (NumeroProtocollo, Message-ID, ...).
	Headers map[string]string
	// Await, when set, means "handed over, not yet delivered": the delivery completes
	// when a receipt with this key arrives (PEC avvenuta-consegna) or fails at the deadline.
	Await *Await
	// Detail goes on the timeline ("scritto in /in/IT..._00001.xml").
	Detail string
}

// Await describes an asynchronous completion.
type Await struct {
	Key     string
	Timeout time.Duration
}

// Sender delivers messages to one endpoint. Implementations must be safe for
// concurrent use.
type Sender interface {
	Send(ctx context.Context, d *Delivery) (Result, error)
	Close() error
}

// Inbound is one item a Receiver took from its source.
type Inbound struct {
	FileName string
	Data     []byte
	Headers  map[string]string
	// DedupKey identifies the source item: the same item handed over again carries the
	// same key.
	DedupKey string
	// Source describes where it came from ("ftp://host/in/x.xml").
	Source string
	// Files are extra files that came with the item (attachments of a mail).
	Files []message.File
}

// Accepted is the store's answer to Accept.
type Accepted struct {
	MessageID message.ID
	Duplicate bool // the item was already stored
}

// Sink takes items from receivers. Accept returns nil only after the item is committed
// (or recognised as already committed); only then may the receiver acknowledge it.
type Sink interface {
	Accept(ctx context.Context, in Inbound) (Accepted, error)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, in Inbound) (Accepted, error)

func (f SinkFunc) Accept(ctx context.Context, in Inbound) (Accepted, error) { return f(ctx, in) }

// AwaitResolver is implemented by sinks that complete asynchronous deliveries: a
// receiver that reads receipts (PEC avvenuta-consegna, errore-consegna) calls it with
// the Result.Await key the sender returned; ok tells a successful delivery from a
// failed one. It returns an error wrapping store.ErrNotFound for a key no delivery waits
// on (a receipt that came before its wait was recorded, or a stranger's).
type AwaitResolver interface {
	ResolveAwait(ctx context.Context, key string, ok bool, detail string) error
}

// Receiver takes items from a source and hands them to a sink until ctx is cancelled.
// Run returns nil on cancellation; other errors are fatal for the receiver (the hub
// logs them and restarts it with backoff). Transient source errors (a server down) are
// retried inside Run.
type Receiver interface {
	Run(ctx context.Context, sink Sink) error
}

// Deps are what the hub lends to channels.
type Deps struct {
	Logger  *slog.Logger
	DataDir string // a private folder of the hub for this endpoint's local state
	Now     func() time.Time
	// Resolver completes deliveries a sender reported as awaiting (Result.Await) when
	// the sender itself learns they are done (an FTP supporto uploaded later). The hub
	// sets it for senders.
	Resolver AwaitResolver
	// Counter returns the next value of a named counter kept in the store, unique
	// across the hub processes sharing it (names of files a convention numbers).
	Counter func(ctx context.Context, name string) (int64, error)
}

func (d Deps) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

// Log returns the logger, never nil.
func (d Deps) Log() *slog.Logger { return d.logger() }

// Clock returns the clock, never nil.
func (d Deps) Clock() func() time.Time {
	if d.Now == nil {
		return time.Now
	}
	return d.Now
}

// Kind is one kind of channel.
type Kind struct {
	Name string
	// Schemes are the URL schemes the kind serves ("file"; "ftp", "ftps").
	Schemes []string
	// NewSettings returns a pointer to the kind's zero settings, which the route loader
	// decodes strictly from the endpoint's `settings:`; when the value has a
	// `Check(ep *Endpoint) error` method it is called after decoding.
	NewSettings func() any
	NewSender   func(ep *Endpoint, deps Deps) (Sender, error)
	NewReceiver func(ep *Endpoint, deps Deps) (Receiver, error)
	// NewReceiptReceiver, when set, reads the receipts of what a sender endpoint sends
	// (a PEC mailbox): the hub runs one per distinct Mailbox of its send endpoints that
	// no receive endpoint already reads, with a sink implementing AwaitResolver.
	NewReceiptReceiver func(ep *Endpoint, deps Deps) (Receiver, error)
	// Mailbox identifies the mailbox an endpoint reads or whose receipts it gets
	// ("" when none), so one mailbox is never read by two receivers.
	Mailbox func(ep *Endpoint) string
}

// SettingsChecker is implemented by settings that validate themselves against the
// endpoint.
type SettingsChecker interface {
	Check(ep *Endpoint) error
}

// Registry holds the channel kinds a hub knows.
type Registry struct {
	kinds map[string]*Kind
}

// NewRegistry returns a registry of the given kinds.
func NewRegistry(kinds ...*Kind) *Registry {
	r := &Registry{kinds: map[string]*Kind{}}
	for _, k := range kinds {
		r.kinds[k.Name] = k
	}
	return r
}

// Lookup returns a kind by name.
func (r *Registry) Lookup(name string) (*Kind, bool) {
	k, ok := r.kinds[name]
	return k, ok
}

// Names lists the kinds, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.kinds))
	for n := range r.kinds {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ErrPermanent marks errors that retrying cannot fix (a refused file, a rejected
// credential that needs an operator): the engine dead-letters the delivery at once so an
// operator can fix the cause and replay it.
var ErrPermanent = errors.New("permanent failure")

// Permanent wraps err as a permanent failure.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w (%w)", err, ErrPermanent)
}

// IsPermanent reports whether err was marked permanent.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// SafeFileName checks a file name coming from outside (a route, a peer, a mail
// attachment) before it is used as a path component: no separators, no "." or "..",
// no control characters, not empty, at most 255 bytes. The error says what is wrong in
// Italian and English.
func SafeFileName(name string) error {
	switch {
	case name == "":
		return errors.New("nome file vuoto (empty file name)")
	case len(name) > 255:
		return fmt.Errorf("nome file di %d byte oltre il limite di 255 (file name too long)", len(name))
	case name == "." || name == "..":
		return fmt.Errorf("nome file %q non ammesso (file name not allowed)", name)
	case strings.ContainsAny(name, "/\\"):
		return fmt.Errorf("nome file %q contiene un separatore di percorso (file name contains a path separator)", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("nome file %q contiene caratteri di controllo (file name contains control characters)", name)
		}
	}
	return nil
}
