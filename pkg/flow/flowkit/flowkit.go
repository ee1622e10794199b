// Package flowkit holds what the invoice flows (passive and active cycle) share: the
// FatturaPA validator built from the hub configuration, the journal-backed history the
// SdI's duplicate checks need, the SdI client, and the ente pre-validation rules read
// from route files.
package flowkit

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"snodo/pkg/fatturapa"
	"snodo/pkg/fatturapa/rules"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/sdi/sdicoop"
	"snodo/pkg/signature"
	"snodo/pkg/store"
	"snodo/pkg/tlsconf"
)

// Lookup keys the flows put on messages.
const (
	KeyFilePrefix    = "file:"    // file:<NomeFile> of every invoice file sent or received
	KeySdIPrefix     = "sdi:"     // sdi:<IdentificativoSdI> of invoices and their notifications
	KeyInvoicePrefix = "fattura:" // fattura:<cedente>|<numero>|<tipo>|<data>|<art73> of each invoice of a file
)

// FileKey is the lookup key of a file name.
func FileKey(name string) string { return KeyFilePrefix + name }

// SdIKey is the lookup key of an IdentificativoSdI.
func SdIKey(id string) string { return KeySdIPrefix + id }

// InvoiceKeys are the lookup keys of the invoices of a file.
func InvoiceKeys(ks []fatturapa.InvoiceKey) []string {
	out := make([]string, 0, len(ks))
	for _, k := range ks {
		out = append(out, invoiceKeyPrefix(k)+k.TipoDocumento+"|"+k.Data+"|"+fmt.Sprint(k.Art73))
	}
	return out
}

func invoiceKeyPrefix(k fatturapa.InvoiceKey) string {
	return KeyInvoicePrefix + k.Cedente + "|" + k.Numero + "|"
}

// History implements fatturapa.History over the journal. Messages whose state is in
// Discarded (rejected by the SdI, refused by the recipient) do not count as sent.
type History struct {
	Store     store.Store
	Discarded map[message.State]bool
}

// FileNameSeen reports whether an invoice file of that name is in the journal.
func (h *History) FileNameSeen(ctx context.Context, name string) (bool, error) {
	ids, err := h.Store.FindByKey(ctx, FileKey(name))
	return len(ids) > 0, err
}

// InvoiceSeen reports whether an earlier invoice in the journal duplicates key.
func (h *History) InvoiceSeen(ctx context.Context, key fatturapa.InvoiceKey) (bool, error) {
	refs, err := h.Store.FindKeys(ctx, invoiceKeyPrefix(key), 100)
	if err != nil {
		return false, err
	}
	for _, r := range refs {
		parts := strings.Split(strings.TrimPrefix(r.Key, KeyInvoicePrefix), "|")
		if len(parts) != 5 {
			continue
		}
		earlier := fatturapa.InvoiceKey{Cedente: parts[0], Numero: parts[1], TipoDocumento: parts[2], Data: parts[3], Art73: parts[4] == "true"}
		if !key.Duplicates(earlier) {
			continue
		}
		if len(h.Discarded) > 0 {
			m, err := h.Store.Get(ctx, r.MessageID)
			if err != nil {
				return false, err
			}
			if h.Discarded[m.State] {
				continue
			}
		}
		return true, nil
	}
	return false, nil
}

// NewValidator builds the FatturaPA validator of a hub: signature trust anchors from
// trust.signatures (without them signatures are checked for integrity only), the
// journal as history when st is not nil.
func NewValidator(cfg *route.Config, st store.Store, discarded map[message.State]bool, log *slog.Logger) (*fatturapa.Validator, error) {
	vc := fatturapa.Config{MaxFileSize: cfg.SdI.MaxFileSize, Logger: log}
	if cfg.Trust.Signatures != "" {
		ts, err := signature.LoadTrustStore(cfg.Trust.Signatures)
		if err != nil {
			return nil, fmt.Errorf("trust.signatures: %w", err)
		}
		vc.Signatures = &signature.Verifier{Trust: ts}
	}
	if st != nil {
		vc.History = &History{Store: st, Discarded: discarded}
	}
	return fatturapa.New(vc)
}

// NewSdIClient builds the client of the SdI's SDICoop services from sdi: in snodo.yaml.
func NewSdIClient(cfg *route.Config, log *slog.Logger) (*sdicoop.Client, error) {
	s := cfg.SdI
	tc, err := tlsconf.Client{CertFile: s.TLS.Cert, KeyFile: s.TLS.Key, RootCA: s.TLS.CA, ServerName: s.TLS.ServerName,
		MinVersion: s.TLS.MinVersion}.Config()
	if err != nil {
		return nil, fmt.Errorf("sdi.tls: %w", err)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	return sdicoop.NewClient(sdicoop.ClientConfig{HTTP: tlsconf.HTTPClient(tc, timeout), RiceviFileURL: s.RiceviFileURL,
		RiceviNotificaURL: s.RiceviNotificaURL, Inline: s.MTOM != nil && !*s.MTOM, MaxFileBytes: s.MaxFileSize, Logger: log})
}

// CheckRules validates the pre-validation rules of a route file: the route loader's
// CheckRules hook. Unknown keys are refused; every problem comes with its line.
func CheckRules(n *yaml.Node) []route.Problem {
	_, errs := rules.FromYAML(n)
	out := make([]route.Problem, 0, len(errs))
	for _, e := range errs {
		out = append(out, route.Problem{Line: e.Line, Msg: "passive.prevalidation.rules: " + e.Msg})
	}
	return out
}

func decodeRules(n *yaml.Node) (*rules.RuleSet, error) {
	if n == nil || n.Kind == 0 {
		return nil, nil
	}
	rs, errs := rules.FromYAML(n)
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return nil, fmt.Errorf("regole di pre-validazione non valide (invalid rules): %s", strings.Join(msgs, "; "))
	}
	return rs, nil
}

// Rules compiles the pre-validation rules of every ente once.
type Rules struct {
	mu   sync.Mutex
	sets map[string]*rules.RuleSet
}

// For returns the compiled rules of an ente (nil when it has none).
func (r *Rules) For(e *route.Ente) (*rules.RuleSet, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rs, ok := r.sets[e.ID()]; ok {
		return rs, nil
	}
	rs, err := decodeRules(&e.Passive.Prevalidation.Rules)
	if err != nil {
		return nil, fmt.Errorf("ente %s: %w", e.ID(), err)
	}
	if r.sets == nil {
		r.sets = map[string]*rules.RuleSet{}
	}
	r.sets[e.ID()] = rs
	return rs, nil
}
