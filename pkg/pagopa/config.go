// Package pagopa holds the hub's identity on the pagoPA platform: the broker
// (intermediario tecnologico, idBrokerPA) the hub's operator is, its stations (idStation)
// and the enti (creditors, idPA) it serves, with how each ente numbers its notices.
//
// The sub-packages do the work: position (the debt position model), posdb (storage,
// receipts, IUV sequences), paserver (the paForNode SOAP service the Node calls),
// pafornode (its XML messages), nodesim (a Node simulator), csvload (bulk loading),
// posapi (the REST API for enti), iuv, taxid, iban and amount (identifiers and money).
package pagopa

import (
	"fmt"
	"regexp"
	"strings"

	"snodo/pkg/pagopa/iban"
	"snodo/pkg/pagopa/iuv"
)

// Config is the hub's pagoPA configuration.
type Config struct {
	BrokerID string    `yaml:"broker" json:"broker"` // idBrokerPA: the hub operator's fiscal code
	Stations []Station `yaml:"stations" json:"stations"`
	Enti     []Ente    `yaml:"enti" json:"enti"`
}

// Station is one of the broker's stations registered on pagoPA.
type Station struct {
	ID string `yaml:"id" json:"id"` // idStation, e.g. 77777777777_01
	// Version is the primitive version configured on pagoPA for the station: 1 (paGetPayment,
	// paSendRT) or 2 (paGetPaymentV2, paSendRTV2). The server answers both; the simulator
	// uses it to choose.
	Version int `yaml:"version" json:"version"`
}

// Ente is a creditor served by the hub.
type Ente struct {
	FiscalCode string `yaml:"fiscalCode" json:"fiscalCode"`               // idPA, 11 digits
	RouteID    string `yaml:"routeId,omitempty" json:"routeId,omitempty"` // the ente's id in the hub's routes (message.Message.Ente)
	Name       string `yaml:"name" json:"name"`                           // companyName shown to payers
	Office     string `yaml:"office,omitempty" json:"office,omitempty"`
	// Stations the Node may use for this ente; the first is the one the ente is
	// registered on. List a previous station too while pagoPA moves the ente, so that
	// receipts still addressed to it are accepted.
	Stations []string `yaml:"stations" json:"stations"`
	// Notice numbering: aux digit 3 with the segregation code assigned by PagoPA, or aux
	// digit 0 with an application code.
	AuxDigit        int `yaml:"auxDigit" json:"auxDigit"`
	SegregationCode int `yaml:"segregationCode" json:"segregationCode"`
	ApplicationCode int `yaml:"applicationCode" json:"applicationCode"`
	// IBAN credited when a loaded position names none (MyPay files carry no IBAN);
	// TypeIBAN overrides it per debt type.
	IBAN     string            `yaml:"iban,omitempty" json:"iban,omitempty"`
	TypeIBAN map[string]string `yaml:"typeIban,omitempty" json:"typeIban,omitempty"`
	// AllowUncheckedNotices accepts loaded notice numbers whose check digits do not verify
	// (notices issued by a previous intermediary, or pagoPA test fixtures).
	AllowUncheckedNotices bool `yaml:"allowUncheckedNotices,omitempty" json:"allowUncheckedNotices,omitempty"`
}

// Scheme is how the ente numbers its notices.
func (e *Ente) Scheme() iuv.Scheme {
	return iuv.Scheme{AuxDigit: e.AuxDigit, SegregationCode: e.SegregationCode, ApplicationCode: e.ApplicationCode}
}

// IBANFor is the IBAN to credit for a debt type: TypeIBAN[typ], else IBAN.
func (e *Ente) IBANFor(typ string) string {
	if v, ok := e.TypeIBAN[typ]; ok {
		return v
	}
	return e.IBAN
}

var (
	digits11 = regexp.MustCompile(`^[0-9]{11}$`)
	text35   = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,35}$`)
)

// Validate checks the configuration and names every problem.
func (c *Config) Validate() error {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if !text35.MatchString(c.BrokerID) {
		add("broker %q: idBrokerPA obbligatorio, fino a 35 caratteri alfanumerici (required, up to 35 characters)", c.BrokerID)
	}
	stations := map[string]bool{}
	for i, s := range c.Stations {
		if !text35.MatchString(s.ID) {
			add("stations[%d]: idStation %q non valido (invalid)", i, s.ID)
		}
		if stations[s.ID] {
			add("stations[%d]: stazione %s ripetuta (repeated)", i, s.ID)
		}
		stations[s.ID] = true
		if s.Version != 1 && s.Version != 2 {
			add("stations[%d]: versione primitive %d: usare 1 o 2 (primitive version must be 1 or 2)", i, s.Version)
		}
	}
	if len(c.Stations) == 0 {
		add("stations: serve almeno una stazione (at least one station)")
	}
	enti := map[string]bool{}
	for i, e := range c.Enti {
		if !digits11.MatchString(e.FiscalCode) {
			add("enti[%d]: codice fiscale %q: servono 11 cifre (11 digits)", i, e.FiscalCode)
		}
		if enti[e.FiscalCode] {
			add("enti[%d]: ente %s ripetuto (repeated)", i, e.FiscalCode)
		}
		enti[e.FiscalCode] = true
		if strings.TrimSpace(e.Name) == "" || len(e.Name) > 140 {
			add("enti[%d]: nome dell'ente obbligatorio, fino a 140 caratteri (name required, up to 140 characters)", i)
		}
		if len(e.Stations) == 0 {
			add("enti[%d]: indicare la stazione dell'ente (the ente's station is required)", i)
		}
		for _, s := range e.Stations {
			if !stations[s] {
				add("enti[%d]: stazione %s non configurata tra le stazioni (station not configured)", i, s)
			}
		}
		if err := e.Scheme().Validate(); err != nil {
			add("enti[%d]: %v", i, err)
		}
		for typ, v := range e.TypeIBAN {
			if err := iban.Check(v); err != nil {
				add("enti[%d].typeIban[%s]: %v", i, typ, err)
			}
		}
		if e.IBAN != "" {
			if err := iban.Check(e.IBAN); err != nil {
				add("enti[%d].iban: %v", i, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("pagopa: configurazione non valida (invalid configuration): %s", strings.Join(errs, "; "))
	}
	return nil
}

// Ente returns the ente with the fiscal code, or nil.
func (c *Config) Ente(fiscalCode string) *Ente {
	for i := range c.Enti {
		if c.Enti[i].FiscalCode == fiscalCode {
			return &c.Enti[i]
		}
	}
	return nil
}

// Station returns the station with the id, or nil.
func (c *Config) Station(id string) *Station {
	for i := range c.Stations {
		if c.Stations[i].ID == id {
			return &c.Stations[i]
		}
	}
	return nil
}

// ServesOn reports whether the ente may be reached through the station.
func (e *Ente) ServesOn(station string) bool {
	for _, s := range e.Stations {
		if s == station {
			return true
		}
	}
	return false
}
