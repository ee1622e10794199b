package wstest_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/channel/ws"
	"snodo/pkg/channel/ws/wstest"
	"snodo/pkg/message"
)

func sender(t *testing.T, srv *httptest.Server, path string, set *ws.Settings) channel.Sender {
	u, _ := url.Parse(srv.URL + path)
	s, err := ws.NewSender(&channel.Endpoint{Name: "comune-a/passive.protocol", URL: u, Settings: set}, channel.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func delivery(t *testing.T, name string) *channel.Delivery {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "testdata", "ws", name))
	if err != nil {
		t.Fatal(err)
	}
	return &channel.Delivery{MessageID: message.NewID(), FileName: name, Attempt: 1,
		Files: []message.File{{Name: name, Role: message.RoleMain, Data: data}}, Headers: map[string]string{message.HeaderIdentificativoSdI: "111"}}
}

func TestFakeEnte(t *testing.T) {
	e := wstest.New()
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	ctx := context.Background()

	reg := sender(t, srv, "/registrazione", &ws.Settings{Style: ws.StyleSOAP, Contract: ws.ContractRegistrazione})
	inv := delivery(t, "IT01234567890_11111.xml.p7m")
	e.Next(wstest.Answer{Fault: "EF99"}, wstest.Answer{Code: "EF01"})
	if _, err := reg.Send(ctx, inv); err == nil || channel.IsPermanent(err) {
		t.Fatalf("EF99: %v", err)
	}
	if _, err := reg.Send(ctx, inv); !channel.IsPermanent(err) {
		t.Fatalf("EF01: %v", err)
	}
	if _, err := reg.Send(ctx, inv); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Send(ctx, delivery(t, "IT01234567890_11111_DT_001.xml")); err != nil {
		t.Fatal(err)
	}
	att := sender(t, srv, "/notifiche-attiva", &ws.Settings{Style: ws.StyleSOAP, Contract: ws.ContractNotificaAttiva})
	if _, err := att.Send(ctx, delivery(t, "IT01234567890_11111_RC_001.xml")); err != nil {
		t.Fatal(err)
	}
	rest := sender(t, srv, "/rest", &ws.Settings{Style: ws.StyleREST, Format: ws.FormatJSON})
	ns := delivery(t, "IT01234567890_11111_NS_001.xml")
	r1, err := rest.Send(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := rest.Send(ctx, ns)
	if err != nil || r1.Headers[message.HeaderNumeroProtocollo] == "" || r2.Headers[message.HeaderNumeroProtocollo] != r1.Headers[message.HeaderNumeroProtocollo] {
		t.Fatalf("protocol numbers %v then %v (%v)", r1.Headers, r2.Headers, err)
	}
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	taken, err := e.WaitTaken(c, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ op, esito, name string }{
		{"RiceviFattura", "", "IT01234567890_11111.xml.p7m"},
		{"RiceviNotifica", "DT", "IT01234567890_11111_DT_001.xml"},
		{"RiceviNotifica", "RC", "IT01234567890_11111_RC_001.xml"},
		{"POST", "", "IT01234567890_11111_NS_001.xml"},
	}
	if len(taken) != len(want) {
		t.Fatalf("taken %d, want %d", len(taken), len(want))
	}
	for i, w := range want {
		if taken[i].Operation != w.op || taken[i].Esito != w.esito || taken[i].NomeFile != w.name || taken[i].IdentificativoSdI != "111" {
			t.Errorf("delivery %d: %+v", i, taken[i])
		}
	}
	all := e.Deliveries()
	if len(all) != 7 || !all[6].Duplicate || all[2].Duplicate {
		t.Fatalf("%d calls; duplicate flags %v %v", len(all), all[2].Duplicate, all[6].Duplicate)
	}
}
