package sim

import (
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func TestConfigRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		reason string
	}{
		{"no mailbox", Config{}, "no mailbox"},
		{"plain off loopback", Config{Mailboxes: []Mailbox{{"a@pec.it", "p"}}, Security: Plain, SMTPAddr: "0.0.0.0:0"}, "loopback"},
		{"bad address", Config{Mailboxes: []Mailbox{{"not-an-address", "p"}}}, "invalid mailbox address"},
		{"no password", Config{Mailboxes: []Mailbox{{"a@pec.it", ""}}}, "without password"},
		{"duplicate", Config{Mailboxes: []Mailbox{{"a@pec.it", "p"}, {"A@pec.it", "q"}}}, "already exists"},
		{"unknown security", Config{Mailboxes: []Mailbox{{"a@pec.it", "p"}}, Security: "ssl"}, "unknown security"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Start(context.Background(), tc.cfg)
			if err == nil {
				s.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("%v, want %q", err, tc.reason)
			}
		})
	}
}

// TestSMTPSessionRules: authentication first, the envelope sender is the mailbox.
func TestSMTPSessionRules(t *testing.T) {
	s, err := Start(context.Background(), Config{Security: Plain, Mailboxes: []Mailbox{{"a@pec.example.it", "pa"}, {"sdi01@pec.fatturapa.it", "ps"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := smtp.Dial(s.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@pec.example.it", nil); err == nil || !strings.Contains(err.Error(), "authenticate") {
		t.Fatalf("MAIL before AUTH: %v", err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "a@pec.example.it", "wrong")); err == nil {
		t.Fatal("wrong password accepted")
	}
	if err := c.Auth(sasl.NewPlainClient("", "a@pec.example.it", "pa")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sdi01@pec.fatturapa.it", nil); err == nil || !strings.Contains(err.Error(), "authenticated mailbox") {
		t.Fatalf("MAIL FROM another mailbox: %v", err)
	}
	if s.Provider().Domain != "pec.example.it" || s.TrustStore().Len() != 1 || s.SigningCA() == nil {
		t.Fatalf("provider %+v", s.Provider())
	}
}

func TestRestartKeepsMailboxes(t *testing.T) {
	s, err := Start(context.Background(), Config{Mailboxes: []Mailbox{{"a@pec.example.it", "pa"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := s.IMAPAddr()
	if err := s.Deliver("a@pec.example.it", []byte("Subject: x\r\n\r\ny\r\n")); err != nil {
		t.Fatal(err)
	}
	s.StopIMAP()
	if err := s.StartIMAP(); err != nil {
		t.Fatal(err)
	}
	if s.IMAPAddr() != addr {
		t.Fatalf("restarted on %s, was %s", s.IMAPAddr(), addr)
	}
	if err := s.Deliver("nobody@pec.example.it", []byte("x")); err == nil {
		t.Fatal("delivered to a missing mailbox")
	}
	if s.Stats().Delivered != 1 {
		t.Fatalf("stats %+v", s.Stats())
	}
}
