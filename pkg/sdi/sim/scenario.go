package sim

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Scenario is what the simulated SdI and the simulated recipient do with a file a
// transmitter sends. It is chosen per file by the file's CodiceDestinatario (see
// DefaultRules); an invalid file always gets an NS, whatever the scenario.
//
// Invoices to private parties (FPR12) have no outcome exchange: for them the EC/DT/AT
// steps are skipped and the receipts use the B2B schema.
type Scenario string

// Scenarios.
const (
	// ConsegnaEC01: RC, then the simulated buyer accepts: NE with EC01.
	ConsegnaEC01 Scenario = "consegna-ec01"
	// ConsegnaEC02: RC, then the simulated buyer refuses: NE with EC02.
	ConsegnaEC02 Scenario = "consegna-ec02"
	// ConsegnaDT: RC, no outcome: DT after Timing.DT (the SdI's 15 days).
	ConsegnaDT Scenario = "consegna-dt"
	// MancataConsegna: MC (the recipient cannot be reached), then AT after Timing.AT
	// (the SdI's 10 days) with the original file.
	MancataConsegna Scenario = "mancata-consegna"
	// Scarto: NS even for a valid file (code 00311, CodiceDestinatario non valido).
	Scarto Scenario = "scarto"
	// Recapito: the file goes to the recipient at Config.RicezioneURL (for a hub, its
	// own RicezioneFatture: invoices between two enti it serves). RC once delivered, or
	// MC (and AT) when every attempt fails; the recipient's EC, sent to
	// SdIRiceviNotifica, becomes the NE; DT to both sides if none comes in time.
	Recapito Scenario = "recapito"
	// Silenzio: the file is accepted and nothing follows (to test missing receipts).
	Silenzio Scenario = "silenzio"
)

// Scenarios lists every scenario.
var Scenarios = []Scenario{ConsegnaEC01, ConsegnaEC02, ConsegnaDT, MancataConsegna, Scarto, Recapito, Silenzio}

// ParseScenario checks a scenario name.
func ParseScenario(s string) (Scenario, error) {
	for _, sc := range Scenarios {
		if string(sc) == strings.TrimSpace(s) {
			return sc, nil
		}
	}
	names := make([]string, len(Scenarios))
	for i, sc := range Scenarios {
		names[i] = string(sc)
	}
	return "", fmt.Errorf("scenario %q sconosciuto: ammessi %s (unknown scenario)", s, strings.Join(names, ", "))
}

// DefaultRules maps CodiceDestinatario to scenarios. Config.Rules adds to and overrides
// them; codes without a rule get Config.Default (ConsegnaEC01 unless set).
var DefaultRules = map[string]Scenario{
	"AAAAAA": ConsegnaEC01,    // the office code of the official FPA01 sample
	"BBBBBB": ConsegnaEC02,    // refused by the buyer
	"CCCCCC": MancataConsegna, // unreachable recipient
	"DDDDDD": ConsegnaDT,      // the buyer never answers
	"EEEEEE": Scarto,          // rejected by the SdI
	"FFFFFF": Silenzio,        // no receipt at all
}

// RulesHelp describes the default rule table, for the CLI and the control endpoint.
func RulesHelp(rules map[string]Scenario, def Scenario) string {
	codes := make([]string, 0, len(rules))
	for c := range rules {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	var b strings.Builder
	for _, c := range codes {
		fmt.Fprintf(&b, "  %-8s → %s\n", c, rules[c])
	}
	fmt.Fprintf(&b, "  (altri)  → %s\n", def)
	return b.String()
}

// Timing replaces the SdI's days with durations. Zero fields take the defaults, which
// suit a demonstration; tests use milliseconds.
type Timing struct {
	Notify time.Duration // receipt of a file → RC, NS or MC (default 1s)
	EC     time.Duration // RC → the simulated buyer's NE (default 2s)
	AT     time.Duration // MC → AT, in place of 10 days (default 5s)
	DT     time.Duration // delivery → DT without an EC, in place of 15 days (default 10s)
	Retry  time.Duration // between delivery attempts (default 1s)
	// Attempts is how many times a delivery is tried (default 3, as the SdI does).
	Attempts int
}

func (t *Timing) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Notify, time.Second)
	def(&t.EC, 2*time.Second)
	def(&t.AT, 5*time.Second)
	def(&t.DT, 10*time.Second)
	def(&t.Retry, time.Second)
	if t.Attempts <= 0 {
		t.Attempts = 3
	}
}
