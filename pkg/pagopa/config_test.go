package pagopa

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	good := Config{
		BrokerID: "77777777777",
		Stations: []Station{{ID: "77777777777_01", Version: 2}},
		Enti: []Ente{{FiscalCode: "77777777777", Name: "Comune di Prova", Stations: []string{"77777777777_01"},
			AuxDigit: 3, SegregationCode: 2, IBAN: "IT60X0542811101000000123456"}},
	}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if e := good.Ente("77777777777"); e == nil || !e.ServesOn("77777777777_01") || e.ServesOn("x") || e.IBANFor("TARI") != e.IBAN {
		t.Fatal("lookups")
	}
	bad := good
	bad.Enti = []Ente{{FiscalCode: "123", Stations: []string{"nope"}, AuxDigit: 1, IBAN: "IT00"}}
	bad.Stations = []Station{{ID: "77777777777_01", Version: 3}}
	err := bad.Validate()
	for _, want := range []string{"11 cifre", "nome dell'ente", "non configurata", "aux digit 1", "iban", "versione primitive"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}
