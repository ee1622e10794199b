// Package message defines the unit that moves through the hub: a Message with its
// files, headers and state, and the append-only Event timeline that records everything
// that happened to it.
//
// The package holds data only; the store persists it and the flows give meaning to
// kinds and states.
package message

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"
)

// Flow is the cycle a message belongs to.
type Flow string

const (
	FlowPassive Flow = "passive" // invoices an ente receives
	FlowActive  Flow = "active"  // invoices an ente sends
	FlowPayment Flow = "payment" // pagoPA
	FlowForward Flow = "forward" // plain file relays declared in a route
)

// Kind says what a message carries. Flows define their own kinds; these are the shared
// ones.
type Kind string

const (
	KindInvoice      Kind = "invoice"      // a FatturaPA file (xml, p7m or zip)
	KindNotification Kind = "notification" // an SdI message (RC, NS, MC, NE, DT, AT, SE, MT); type in header TipoMessaggio
	KindOutcome      Kind = "outcome"      // an Esito Committente (EC) of an ente
	KindPositions    Kind = "positions"    // a debt position file (CSV)
	KindReceipt      Kind = "receipt"      // a pagoPA receipt
	KindFile         Kind = "file"         // any file moved by a forward route
)

// State is where a message stands in its flow. The flows own the vocabulary; the store
// only records it.
type State string

// Common states used by every flow.
const (
	StateReceived   State = "received"
	StateDelivered  State = "delivered"
	StateFailed     State = "failed"     // a delivery was dead-lettered
	StateQuarantine State = "quarantine" // kept for an operator: unroutable or unreadable input
)

// Well-known header names. Headers are free-form; these are the ones the hub itself sets.
const (
	HeaderIdentificativoSdI  = "IdentificativoSdI"
	HeaderCodiceDestinatario = "CodiceDestinatario"
	HeaderTipoMessaggio      = "TipoMessaggio"
	HeaderNomeFileOriginale  = "NomeFileOriginale"
	HeaderNumeroProtocollo   = "NumeroProtocollo"
	HeaderDataProtocollo     = "DataProtocollo"
	HeaderMessageID          = "Message-ID"
	HeaderSourcePath         = "SourcePath"
)

// ID identifies a message. IDs sort by creation time.
type ID string

// NewID returns a new time-ordered identifier: 48 bits of milliseconds and 80 random
// bits in Crockford-like lower-case base32 (26 characters).
func NewID() ID { return newIDAt(time.Now()) }

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

func newIDAt(t time.Time) ID {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	return ID(idEncoding.EncodeToString(b[:]))
}

// Valid reports whether s has the shape of an ID (used to tell IDs from other arguments).
func Valid(s string) bool {
	if len(s) != 26 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefghjkmnpqrstvwxyz", c) {
			return false
		}
	}
	return true
}

// File is a named payload of a message. The first file (role RoleMain) is the message
// itself; others are related documents (SdI metadata, an HTML rendering, the unwrapped
// XML of a signed file).
type File struct {
	Name        string
	Role        string
	ContentType string
	Data        []byte
	Size        int64 // set by the store when the data is not loaded
}

// File roles.
const (
	RoleMain      = "main"
	RoleMetadata  = "metadata"  // MT metadata of an SdI delivery
	RoleUnwrapped = "unwrapped" // XML extracted from a signed file
	RoleRendering = "rendering" // human-readable HTML
	RoleOutcome   = "outcome"   // a response document (SE, outcome CSV...)
)

// Message is one unit moving through the hub.
type Message struct {
	ID            ID
	Ente          string // route id of the ente; empty while unrouted
	Flow          Flow
	Kind          Kind
	FileName      string
	Size          int64
	SHA256        string // hex of the main file
	Headers       map[string]string
	CorrelationID string // groups related messages, e.g. an invoice and its notifications
	ParentID      ID     // the message this one answers or was derived from
	State         State
	// DedupKey, when set, makes the message unique: a second message with the same key
	// is recognised as a redelivery and not stored again.
	DedupKey  string
	Source    string // the channel that brought it, e.g. "fs:comune-a/passive.outcome"
	CreatedAt time.Time
	UpdatedAt time.Time

	// Files travel with the message when it is created; reading a message from the store
	// does not load them (see store.Store.Files).
	Files []File
}

// Header returns a header value ("" when absent).
func (m *Message) Header(k string) string {
	if m.Headers == nil {
		return ""
	}
	return m.Headers[k]
}

// SetHeader sets a header, allocating the map when needed.
func (m *Message) SetHeader(k, v string) {
	if m.Headers == nil {
		m.Headers = map[string]string{}
	}
	m.Headers[k] = v
}

// EventType names what happened.
type EventType string

const (
	EventReceived       EventType = "received"
	EventDuplicate      EventType = "duplicate" // a redelivery recognised
	EventValidated      EventType = "validated"
	EventInvalid        EventType = "invalid"
	EventState          EventType = "state" // the flow moved the message to a new state
	EventQueued         EventType = "queued"
	EventAttempt        EventType = "attempt"        // a delivery attempt started
	EventAttemptFailed  EventType = "attempt_failed" // it failed; retried later
	EventAwaiting       EventType = "awaiting"       // handed over, waiting for a receipt
	EventDelivered      EventType = "delivered"
	EventDeadLettered   EventType = "dead_lettered"
	EventReplayed       EventType = "replayed"
	EventReceiptOverdue EventType = "receipt_overdue"
	EventNote           EventType = "note"
	EventLeaseRecovered EventType = "lease_recovered" // a dead worker's job was taken again
)

// Event is one entry of a message's append-only timeline.
type Event struct {
	Seq       int64
	MessageID ID
	At        time.Time
	Type      EventType
	Target    string // the destination or step, e.g. "passive.protocol (ftp)"
	Attempt   int
	Detail    string
}
