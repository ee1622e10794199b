package sdipec

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"snodo/pkg/channel"
	pecchannel "snodo/pkg/channel/pec"
	"snodo/pkg/route"
)

// Mailbox is the hub's own PEC mailbox towards the SdI, resolved from sdi.pec in
// snodo.yaml: the IMAP folder the receiver reads (where the SdI's messages and the
// provider's receipts arrive) and the SMTP side the sender submits through. Both
// endpoints share the credentials and the settings.
type Mailbox struct {
	// Reader is an imaps:// endpoint of the pec channel kind.
	Reader *channel.Endpoint
	// Sender is a mailto: endpoint of the pec channel kind whose recipient is the SdI's
	// first address (sdi.address); every send names its recipient (the learned one).
	Sender *channel.Endpoint
	// Settings are the decoded settings (shared by both endpoints).
	Settings *pecchannel.Settings
	// Address is the hub's PEC address (settings.from, else the username).
	Address string
	// FirstSdI is sdi.address, the SdI's address for the first send
	// (sdi01@pec.fatturapa.it by default).
	FirstSdI string
}

// DefaultMaxMessageBytes is the SdI's limit for a whole PEC message, attachments
// included (sdi-facts §8): 30 MB.
const DefaultMaxMessageBytes = 30_000_000

// MaxMessageBytes is the limit the mailbox applies before sending.
func (mb *Mailbox) MaxMessageBytes() int64 {
	if mb.Settings != nil && mb.Settings.MaxMessageSize > 0 {
		return mb.Settings.MaxMessageSize
	}
	return DefaultMaxMessageBytes
}

// sdiLocal is the local part of the SdI's PEC boxes (sdi01, sdi02, ..., sdiNN).
var sdiLocal = regexp.MustCompile(`^sdi[0-9]{2,3}$`)

// IsSdIAddress reports whether addr is one of the SdI's PEC boxes: sdiNN at the domain
// of first (sdi.address), compared case-insensitively.
func IsSdIAddress(addr, first string) bool {
	addr = strings.ToLower(strings.TrimSpace(addr))
	local, domain, ok := strings.Cut(addr, "@")
	_, firstDomain, ok2 := strings.Cut(strings.ToLower(strings.TrimSpace(first)), "@")
	return ok && ok2 && domain == firstDomain && sdiLocal.MatchString(local)
}

// ResolveMailbox resolves sdi.pec of a configuration into the hub's SdI mailbox. The
// route loader decodes sdi.pec as an endpoint spec but does not resolve it (it is no
// phase of an ente), so this does what the loader does for a phase: strict decoding of
// the pec settings, relative paths against the configuration's folder, the PEC trust
// store of trust.pec when the settings name none, and the pec kind's own checks.
//
// Two shapes are accepted:
//
//	pec: {url: "imaps://imap.pec.example.it/INBOX", settings: {smtp: "smtps://smtp.pec.example.it:465"}, ...}
//	pec: {url: "mailto:sdi01@pec.fatturapa.it", settings: {smtp: ..., imap: "imaps://imap.pec.example.it/INBOX"}, ...}
func ResolveMailbox(cfg *route.Config) (*Mailbox, error) {
	if cfg == nil {
		return nil, errors.New("sdipec: configurazione mancante (no configuration)")
	}
	spec := cfg.SdI.PEC
	first := strings.ToLower(strings.TrimSpace(cfg.SdI.Address))
	if _, err := mail.ParseAddress(first); err != nil || !strings.Contains(first, "@") {
		return nil, fmt.Errorf("sdipec: sdi.address %q non è un indirizzo PEC valido, es. sdi01@pec.fatturapa.it (sdi.address invalid)", cfg.SdI.Address)
	}
	if spec.URL == "" {
		return nil, errors.New("sdipec: sdi.channel è pec ma manca sdi.pec, la casella PEC dell'hub per lo SdI: " +
			"indicare url (imaps://server/INBOX), username, password e settings.smtp (sdi.pec missing: the hub's PEC mailbox for the SdI)")
	}
	if spec.Channel != "" && spec.Channel != "pec" {
		return nil, fmt.Errorf("sdipec: sdi.pec.channel %q: per lo SdI via PEC il canale è pec (sdi.pec must be a pec endpoint)", spec.Channel)
	}
	if spec.TLS.Insecure {
		return nil, errors.New("sdipec: sdi.pec.tls.insecure_skip_verify non ammesso: indicare la CA del server in tls.ca (certificate checks cannot be disabled)")
	}
	set := &pecchannel.Settings{}
	if spec.Settings.Kind != 0 {
		if err := decodeStrict(&spec.Settings, set); err != nil {
			return nil, fmt.Errorf("sdipec: sdi.pec.settings: %w", err)
		}
	}
	dir := "."
	if f := cfg.File(); f != "" {
		dir = filepath.Dir(f)
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	set.Trust = abs(set.Trust)
	if set.Trust == "" {
		set.Trust = cfg.Trust.PEC // already resolved by the loader
	}
	u, err := url.Parse(spec.URL)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("sdipec: sdi.pec.url %q non valido: atteso imaps://server/INBOX (bad URL)", spec.URL)
	}
	if u.User != nil {
		return nil, errors.New("sdipec: sdi.pec.url: credenziali nell'URL non ammesse; usare username e password con ${ENV} (credentials in URL)")
	}
	base := channel.Endpoint{Kind: "pec", Username: spec.Username, Password: spec.Password.Value,
		TLS: channel.TLS{CAFile: abs(spec.TLS.CA), CertFile: abs(spec.TLS.Cert), KeyFile: abs(spec.TLS.Key),
			MinVersion: spec.TLS.MinVersion, ServerName: spec.TLS.ServerName}}
	reader, sender := base, base
	reader.Name, sender.Name = "sdi/pec", "sdi/pec (invio)"
	sset := *set
	sset.AllowRecipientOverride = true
	sender.Settings = &sset
	rset := *set
	reader.Settings = &rset
	sender.URL = &url.URL{Scheme: "mailto", Opaque: first}
	switch u.Scheme {
	case "imaps", "imap", "imap+plain":
		reader.URL = u
	case "mailto", "pec":
		if set.IMAP == "" {
			return nil, errors.New("sdipec: sdi.pec.url è mailto: ma manca settings.imap, la cartella IMAP della casella dove arrivano i messaggi dello SdI " +
				"(settings.imap missing: where the SdI's messages arrive)")
		}
		iu, err := url.Parse(set.IMAP)
		if err != nil || iu.Scheme == "" {
			return nil, fmt.Errorf("sdipec: sdi.pec.settings.imap %q non valido (bad URL)", set.IMAP)
		}
		reader.URL = iu
	default:
		return nil, fmt.Errorf("sdipec: sdi.pec.url: schema %q non previsto; usare imaps://server/INBOX (unknown scheme)", u.Scheme)
	}
	if err := sset.Check(&sender); err != nil {
		return nil, fmt.Errorf("sdipec: sdi.pec (invio): %w", err)
	}
	if err := rset.Check(&reader); err != nil {
		return nil, fmt.Errorf("sdipec: sdi.pec (lettura): %w", err)
	}
	from := set.From
	if from == "" {
		from = spec.Username
	}
	return &Mailbox{Reader: &reader, Sender: &sender, Settings: set, Address: strings.ToLower(from), FirstSdI: first}, nil
}

// decodeStrict decodes a YAML node into out, refusing unknown keys.
func decodeStrict(n *yaml.Node, out any) error {
	raw, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	d := yaml.NewDecoder(bytes.NewReader(raw))
	d.KnownFields(true)
	if err := d.Decode(out); err != nil {
		return fmt.Errorf("%v (controllare i nomi delle impostazioni del canale pec: check the pec settings' names)", err)
	}
	return nil
}
