package sdipec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"snodo/pkg/channel"
	pecchannel "snodo/pkg/channel/pec"
	"snodo/pkg/hub"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/sdi/sdicoop"
	"snodo/pkg/store"
)

// Engine handler and target of the module's jobs.
const (
	// HandlerConsegna follows one file sent to the SdI by PEC until the provider's
	// delivery receipt (sending it again after a failure receipt).
	HandlerConsegna = "sdipec.consegna"
	// TargetPEC is the target of those jobs: under sdi.* so sdi.retry applies.
	TargetPEC = "sdi.pec"
	// ServicePEC names the channel on the flows' timelines (sdi/PEC).
	ServicePEC = "PEC"
)

// Headers the module sets on the messages it sends or receives.
const (
	// HeaderMessageID is the Message-ID of the last PEC that carried the message to the
	// SdI; HeaderDestinatario the SdI box it went to.
	HeaderMessageID    = "SdIPEC-Message-ID"
	HeaderDestinatario = "SdIPEC-Destinatario"
	// HeaderIdentificativoPEC is the provider's id of the PEC the SdI delivered an
	// invoice with (daticert identificativo).
	HeaderIdentificativoPEC = "SdIPEC-Identificativo"
)

// Options configure the module.
type Options struct {
	// Now is the clock (default the hub's).
	Now func() time.Time
}

// Module is the SdI over PEC as a hub module. Create it with New, give it the flows
// with Connect, and pass it as active.Options.SdIPEC and passive.Options.SdIPEC.
type Module struct {
	opts Options

	// active and passive are the flows' inbound paths (their sdicoop.Inbound).
	active, passive sdicoop.Inbound

	h       *hub.Hub
	log     *slog.Logger
	mb      *Mailbox
	sender  channel.Sender
	enabled bool

	mu      sync.Mutex
	learned string // cached sdiNN address (see address.go)
}

var _ hub.Module = (*Module)(nil)

// New returns the module. Creating it is cheap; Init does the work, and only when
// sdi.channel is pec.
func New(o Options) *Module { return &Module{opts: o} }

// Connect gives the module the flows it dispatches to: the active module (RC, NS, MC,
// NE, AT, DT of the hub's own invoices) and the passive module (invoices, DT). Call it
// before the hub runs.
func (m *Module) Connect(active, passive sdicoop.Inbound) {
	m.active, m.passive = active, passive
}

// Name is "sdipec".
func (m *Module) Name() string { return "sdipec" }

// Migrations create the table of the SdI addresses learned.
func (m *Module) Migrations() []store.Migration { return migrations }

// Enabled reports whether the module runs (sdi.channel is pec).
func (m *Module) Enabled() bool { return m.enabled }

// Mailbox returns the resolved SdI mailbox (nil before Init or when disabled).
func (m *Module) Mailbox() *Mailbox { return m.mb }

func (m *Module) now() time.Time {
	if m.opts.Now != nil {
		return m.opts.Now()
	}
	if m.h != nil && m.h.Now != nil {
		return m.h.Now()
	}
	return time.Now()
}

// Init resolves sdi.pec, builds the sender, registers the receipt job's handler and
// starts the receiver of the mailbox. With sdi.channel ws it does nothing.
func (m *Module) Init(h *hub.Hub) error {
	m.h = h
	m.log = h.Log.With("flow", "sdipec")
	if h.Config.SdI.Channel != "pec" {
		return nil
	}
	if m.active == nil || m.passive == nil {
		return errors.New("sdipec: moduli del ciclo attivo e passivo non collegati: chiamare Connect prima di avviare l'hub (flows not connected)")
	}
	mb, err := ResolveMailbox(h.Config)
	if err != nil {
		return err
	}
	kind := pecchannel.Kind()
	if err := checkDedicated(h.Routes, h.Channels, kind, mb); err != nil {
		return err
	}
	deps := channel.Deps{Logger: m.log, Now: h.Now, DataDir: filepath.Join(h.Config.DataDir, "channels", "_sdi", "pec")}
	sender, err := kind.NewSender(mb.Sender, deps)
	if err != nil {
		return fmt.Errorf("sdipec: %w", err)
	}
	rcv, err := kind.NewReceiver(mb.Reader, deps)
	if err != nil {
		return fmt.Errorf("sdipec: %w", err)
	}
	m.mb, m.sender, m.enabled = mb, sender, true
	h.Handle(HandlerConsegna, jobFunc(m.consegna))
	h.Go(func(ctx context.Context) error {
		defer sender.Close()
		m.runReceiver(ctx, rcv)
		return nil
	})
	m.log.Info("SdI via PEC attivo (SdI over PEC enabled)", "casella", mb.Address, "primo_indirizzo", mb.FirstSdI,
		"lettura", mb.Reader.URL.Redacted(), "limite_byte", mb.MaxMessageBytes())
	return nil
}

// checkDedicated refuses a mailbox that a route phase also reads: two readers would
// take each other's messages.
func checkDedicated(rs *route.Routes, kinds *channel.Registry, kind *channel.Kind, mb *Mailbox) error {
	mine := kind.Mailbox(mb.Reader)
	if mine == "" || rs == nil {
		return nil
	}
	for _, e := range rs.Enti {
		for _, p := range rs.Plan(e.ID()) {
			if p.Endpoint == nil || p.Endpoint.Kind != kind.Name {
				continue
			}
			k := kind
			if kinds != nil {
				if kk, ok := kinds.Lookup(p.Endpoint.Kind); ok && kk.Mailbox != nil {
					k = kk
				}
			}
			if k.Mailbox(p.Endpoint) == mine {
				return fmt.Errorf("sdipec: la casella PEC dello SdI (sdi.pec, %s) è usata anche da %s: usare una casella dedicata allo SdI "+
					"(the SdI mailbox is also used by a route phase: use a dedicated mailbox)", mb.Address, p.Endpoint.Name)
			}
		}
	}
	return nil
}

// runReceiver runs the mailbox's receiver until ctx ends, restarting it with backoff.
func (m *Module) runReceiver(ctx context.Context, rcv channel.Receiver) {
	backoff := time.Second
	sink := &sink{m: m}
	for {
		err := rcv.Run(ctx, sink)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("terminato senza errore (returned)")
		}
		m.log.Error("lettore della casella SdI terminato; riavvio (SdI mailbox reader stopped; restarting)", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Minute)
	}
}

// jobFunc adapts a handler method.
type jobFunc func(ctx context.Context, j *store.Job, msg *message.Message) (store.Outcome, error)

func (f jobFunc) Handle(ctx context.Context, j *store.Job, msg *message.Message) (store.Outcome, error) {
	return f(ctx, j, msg)
}
