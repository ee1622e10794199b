package sim

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"snodo/pkg/pec"
	"snodo/pkg/pec/daticert"
	"snodo/pkg/pec/gestore"
)

// FaultKind is a failure the simulator injects for one recipient.
type FaultKind string

// Injectable failures.
const (
	// FaultErroreConsegna: not delivered; the sender gets an errore-consegna.
	FaultErroreConsegna FaultKind = "errore-consegna"
	// FaultNoReceipt: delivered, but the sender gets no delivery receipt.
	FaultNoReceipt FaultKind = "nessuna-ricevuta"
	// FaultDelay: delivered; the delivery receipt comes after Fault.Delay.
	FaultDelay FaultKind = "ritardo"
	// FaultVirus: not delivered; the sender gets an errore-consegna for a virus.
	FaultVirus FaultKind = "virus"
	// FaultPreavviso: not delivered; the sender gets a preavviso-errore-consegna (the
	// 12-hour notice) and, Fault.Delay later, the final errore-consegna.
	FaultPreavviso FaultKind = "preavviso"
)

// Fault is a failure injected for messages to one recipient.
type Fault struct {
	Kind  FaultKind
	Delay time.Duration // for FaultDelay and FaultPreavviso
	// Times the fault applies, then it is spent; 0 = every message.
	Times int
}

// SetFault injects f for every message to recipient (until spent); a zero Kind removes
// the fault.
func (s *Sim) SetFault(recipient string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	recipient = strings.ToLower(recipient)
	if f.Kind == "" {
		delete(s.faults, recipient)
		return
	}
	s.faults[recipient] = &f
}

func (s *Sim) takeFault(recipient string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults[recipient]
	if f == nil {
		return nil
	}
	out := *f
	if f.Times > 0 {
		f.Times--
		if f.Times == 0 {
			delete(s.faults, recipient)
		}
	}
	return &out
}

type backend struct{ s *Sim }

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s}, nil
}

type session struct {
	s     *Sim
	user  string
	from  string
	rcpts []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return errors.New("identità diversa dall'utente (identity differs from username)")
			}
			return ss.login(username, password)
		}), nil
	case sasl.Login:
		return &loginServer{check: ss.login}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *session) login(username, password string) error {
	username = strings.ToLower(username)
	ss.s.mu.Lock()
	u := ss.s.users[username]
	ss.s.mu.Unlock()
	if u == nil || subtle.ConstantTimeCompare([]byte(u.password), []byte(password)) != 1 {
		ss.s.log.Warn("autenticazione SMTP fallita", "user", username)
		return smtp.ErrAuthFailed
	}
	ss.user = username
	return nil
}

// loginServer is the server side of SASL LOGIN (draft-murchison-sasl-login), which
// go-sasl provides only as a client.
type loginServer struct {
	check    func(user, pass string) error
	username string
	step     int
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.username = string(resp)
		l.step = 2
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.username, string(resp))
	}
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.user == "" {
		return smtp.ErrAuthRequired
	}
	from = strings.ToLower(from)
	if from != ss.user {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message: fmt.Sprintf("mittente %s diverso dalla casella autenticata %s (sender differs from the authenticated mailbox)", from, ss.user)}
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.from == "" {
		return &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "MAIL prima di RCPT (MAIL first)"}
	}
	ss.rcpts = append(ss.rcpts, strings.ToLower(to))
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return ss.s.submit(ss.from, ss.rcpts, raw)
}

func (ss *session) Reset() { ss.from, ss.rcpts = "", nil }

func (ss *session) Logout() error { return nil }

// eicar is the standard antivirus test string: a message holding it is refused as
// infected, as a real access point would.
const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// infected looks for the EICAR test string in the message and in its decoded
// attachments, as an antivirus would.
func infected(raw []byte) bool {
	if bytes.Contains(raw, []byte(eicar)) {
		return true
	}
	m, _, err := pec.ReadMessage("antivirus", raw, pec.Options{MaxSize: 1 << 40})
	if err != nil {
		return false
	}
	for _, a := range m.Attachments {
		if bytes.Contains(a.Data, []byte(eicar)) {
			return true
		}
	}
	return false
}

// submit is the access point: formal checks, then accettazione or non-accettazione,
// then delivery and a receipt per recipient.
func (s *Sim) submit(from string, rcpts []string, raw []byte) error {
	s.mu.Lock()
	s.stats.Submitted++
	s.mu.Unlock()
	o, err := gestore.ReadOriginal(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: err.Error()}
	}
	log := s.log.With("from", from, "message_id", o.MessageID)
	// RFC 6109 §3.1.1: the checks of the access point.
	var reasons []string
	virus := false
	if o.From == "" {
		reasons = append(reasons, "manca il campo From (From missing)")
	} else if o.From != from {
		reasons = append(reasons, fmt.Sprintf("From %s diverso dal mittente SMTP %s (From differs from the SMTP sender)", o.From, from))
	}
	if len(o.To) == 0 {
		reasons = append(reasons, "nessun destinatario in To (no To recipient)")
	}
	if len(o.Bcc) > 0 {
		reasons = append(reasons, "destinatari in copia nascosta non ammessi (Bcc not allowed)")
	}
	listed := map[string]bool{}
	for _, a := range append(append([]string{}, o.To...), o.Cc...) {
		listed[a] = true
	}
	for _, r := range rcpts {
		if !listed[r] {
			reasons = append(reasons, fmt.Sprintf("destinatario %s assente da To/Cc (recipient %s not in To/Cc)", r, r))
		}
	}
	s.mu.Lock()
	for a := range listed {
		_, d, _ := strings.Cut(a, "@")
		if !s.domains[d] {
			reasons = append(reasons, fmt.Sprintf("dominio %s non servito dal gestore (domain %s not served)", d, d))
		}
	}
	s.mu.Unlock()
	if total := int64(len(raw)) * int64(max(len(listed), 1)); total > s.cfg.MaxMessageBytes {
		reasons = append(reasons, fmt.Sprintf("dimensione %d byte × %d destinatari oltre il limite di %d (size × recipients exceeds the limit)", len(raw), len(listed), s.cfg.MaxMessageBytes))
	}
	if infected(raw) {
		virus = true
		reasons = append(reasons, "virus informatico rilevato (virus detected)")
	}
	id := s.provider.NewIdentificativo()
	if len(reasons) > 0 {
		errore := daticert.Altro
		if virus {
			errore = daticert.Virus
		}
		log.Info("PEC non accettata", "reasons", reasons)
		s.mu.Lock()
		s.stats.Refused++
		s.mu.Unlock()
		// The notice goes to the authenticated mailbox: the From header may be the fault.
		return s.receipt(o, gestore.Receipt{Tipo: daticert.NonAccettazione, Identificativo: id, Errore: errore, Virus: virus,
			ErroreEsteso: strings.Join(reasons, "; "), To: from})
	}
	s.mu.Lock()
	s.stats.Accepted++
	s.mu.Unlock()
	if err := s.receipt(o, gestore.Receipt{Tipo: daticert.Accettazione, Identificativo: id}); err != nil {
		return err
	}
	log.Info("PEC accettata", "identificativo", id, "recipients", len(listed))
	env, err := s.provider.Envelope(o, id)
	if err != nil {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: err.Error()}
	}
	for _, rcpt := range append(append([]string{}, o.To...), o.Cc...) {
		s.deliver(o, id, env, rcpt)
	}
	return nil
}

func (s *Sim) deliver(o *gestore.Original, id string, env []byte, rcpt string) {
	// o.From was checked equal to the authenticated sender before acceptance.
	s.mu.Lock()
	_, exists := s.users[rcpt]
	s.mu.Unlock()
	consegna := gestore.Receipt{Tipo: daticert.AvvenutaConsegna, Identificativo: id, Consegna: rcpt}
	if !exists {
		s.receiptLogged(o, gestore.Receipt{Tipo: daticert.ErroreConsegna, Identificativo: id, Consegna: rcpt, Errore: daticert.NoDest,
			ErroreEsteso: "5.1.1 - " + s.provider.Name + " - indirizzo non valido"})
		return
	}
	f := s.takeFault(rcpt)
	if f == nil {
		s.appendLogged(rcpt, env)
		s.receiptLogged(o, consegna)
		return
	}
	s.log.Info("guasto iniettato", "recipient", rcpt, "fault", f.Kind, "message_id", o.MessageID)
	switch f.Kind {
	case FaultErroreConsegna:
		s.receiptLogged(o, gestore.Receipt{Tipo: daticert.ErroreConsegna, Identificativo: id, Consegna: rcpt, Errore: daticert.Altro,
			ErroreEsteso: "5.2.2 - " + s.provider.Name + " - casella piena"})
	case FaultVirus:
		s.receiptLogged(o, gestore.Receipt{Tipo: daticert.ErroreConsegna, Identificativo: id, Consegna: rcpt, Virus: true,
			ErroreEsteso: "5.7.1 - " + s.provider.Name + " - virus informatico rilevato"})
	case FaultNoReceipt:
		s.appendLogged(rcpt, env)
	case FaultDelay:
		s.appendLogged(rcpt, env)
		s.later(f.Delay, func() { s.receiptLogged(o, consegna) })
	case FaultPreavviso:
		s.receiptLogged(o, gestore.Receipt{Tipo: daticert.PreavvisoErroreConsegna, Identificativo: id, Consegna: rcpt, Errore: daticert.Altro,
			ErroreEsteso: "4.4.7 - " + s.provider.Name + " - tempo massimo di consegna superato"})
		s.later(f.Delay, func() {
			s.receiptLogged(o, gestore.Receipt{Tipo: daticert.ErroreConsegna, Identificativo: id, Consegna: rcpt, Errore: daticert.Altro,
				ErroreEsteso: "5.4.7 - " + s.provider.Name + " - tempo massimo di consegna superato"})
		})
	default:
		s.log.Warn("guasto sconosciuto: consegna normale", "fault", f.Kind)
		s.appendLogged(rcpt, env)
		s.receiptLogged(o, consegna)
	}
}

func (s *Sim) later(d time.Duration, fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			fn()
		case <-s.ctx.Done():
		}
	}()
}

func (s *Sim) appendLogged(rcpt string, env []byte) {
	if err := s.appendInbox(rcpt, env); err != nil {
		s.log.Error("consegna fallita", "recipient", rcpt, "err", err)
		return
	}
	s.mu.Lock()
	s.stats.Delivered++
	s.mu.Unlock()
}

func (s *Sim) receiptLogged(o *gestore.Original, r gestore.Receipt) {
	if err := s.receipt(o, r); err != nil {
		s.log.Error("ricevuta non emessa", "tipo", r.Tipo, "err", err)
	}
}

// receipt builds and files a receipt in the sender's INBOX.
func (s *Sim) receipt(o *gestore.Original, r gestore.Receipt) error {
	b, err := s.provider.Receipt(o, r)
	if err != nil {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: err.Error()}
	}
	to := r.To
	if to == "" {
		to = o.From
	}
	if err := s.appendInbox(to, b); err != nil {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: err.Error()}
	}
	s.mu.Lock()
	s.stats.Receipts++
	s.mu.Unlock()
	s.log.Info("ricevuta emessa", "tipo", r.Tipo, "to", to, "message_id", o.MessageID, "consegna", r.Consegna)
	return nil
}
