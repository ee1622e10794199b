package pagopaconf

import (
	"strings"
	"testing"

	"snodo/pkg/route"
)

func TestFromRoutes(t *testing.T) {
	no := false
	aux0 := 0
	cfg := &route.Config{PagoPA: route.PagoPASpec{BrokerID: "77777777777", Stations: []route.StationSpec{{ID: "77777777777_01", SegregationCode: "07"}}}}
	rs := &route.Routes{Enti: []*route.Ente{
		{Ente: route.Identity{ID: "a", Name: "Comune A", CodiceFiscale: "01234567897"}, Payments: route.PaymentsSpec{Station: "77777777777_01", IBAN: "IT60X0542811101000000123456"}},
		{Ente: route.Identity{ID: "b", Name: "Comune B", CodiceFiscale: "80001234568"}, Payments: route.PaymentsSpec{Station: "77777777777_01", AuxDigit: &aux0, ApplicationCode: "12"}},
		{Ente: route.Identity{ID: "c", Name: "Comune C", CodiceFiscale: "00000000000"}},                                                           // no payments
		{Ente: route.Identity{ID: "d", Name: "Comune D", CodiceFiscale: "00000000001", Enabled: &no}, Payments: route.PaymentsSpec{Station: "x"}}, // disabled
	}}
	pc, err := FromRoutes(cfg, rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(pc.Enti) != 2 || pc.Enti[0].SegregationCode != 7 || pc.Enti[0].AuxDigit != 3 || pc.Enti[0].RouteID != "a" ||
		pc.Enti[1].AuxDigit != 0 || pc.Enti[1].ApplicationCode != 12 || pc.Stations[0].Version != 2 {
		t.Fatalf("%+v", pc)
	}
	rs.Enti[0].Payments.SegregationCode = "7x"
	rs.Enti[1].Payments.Station = "77777777777_99"
	if _, err := FromRoutes(cfg, rs); err == nil || !strings.Contains(err.Error(), "segregation_code") {
		t.Fatalf("bad code: %v", err)
	}
	rs.Enti[0].Payments.SegregationCode = ""
	if _, err := FromRoutes(cfg, rs); err == nil || !strings.Contains(err.Error(), "non configurata") {
		t.Fatalf("unknown station: %v", err)
	}
}
