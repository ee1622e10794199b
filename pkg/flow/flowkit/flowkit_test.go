package flowkit

import (
	"context"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"snodo/pkg/fatturapa"
	"snodo/pkg/message"
	"snodo/pkg/store"
	"snodo/pkg/store/storetest"
)

func TestHistoryOverTheJournal(t *testing.T) {
	ctx := context.Background()
	s := storetest.OpenSQLite(t, store.Options{})
	k := fatturapa.InvoiceKey{Cedente: "IT01234567890", TipoDocumento: "TD01", Numero: "123", Data: "2026-03-01"}
	ingest := func(name string, state message.State, keys ...string) {
		_, _, err := s.Ingest(ctx, store.NewMessage{Message: &message.Message{Flow: message.FlowActive, Kind: message.KindInvoice,
			FileName: name, State: state, Files: []message.File{{Name: name, Data: []byte("<x/>")}}}, Keys: append(keys, FileKey(name))})
		if err != nil {
			t.Fatal(err)
		}
	}
	h := &History{Store: s, Discarded: map[message.State]bool{"scartata": true}}
	if seen, _ := h.InvoiceSeen(ctx, k); seen {
		t.Fatal("an empty journal has seen an invoice")
	}
	ingest("IT01234567890_00001.xml", "scartata", InvoiceKeys([]fatturapa.InvoiceKey{k})...)
	if seen, _ := h.InvoiceSeen(ctx, k); seen {
		t.Fatal("an invoice the SdI discarded counts as a duplicate")
	}
	ingest("IT01234567890_00002.xml", "inviata", InvoiceKeys([]fatturapa.InvoiceKey{k})...)
	if seen, err := h.InvoiceSeen(ctx, k); !seen || err != nil {
		t.Fatalf("InvoiceSeen = %v, %v", seen, err)
	}
	later := k
	later.Data = "2027-01-10"
	if seen, _ := h.InvoiceSeen(ctx, later); seen {
		t.Fatal("the same number in another year is a duplicate")
	}
	other := k
	other.Numero = "12"
	if seen, _ := h.InvoiceSeen(ctx, other); seen {
		t.Fatal("number 12 matched number 123 by prefix")
	}
	if seen, _ := h.FileNameSeen(ctx, "IT01234567890_00002.xml"); !seen {
		t.Fatal("a stored file name is not seen")
	}
	if seen, _ := h.FileNameSeen(ctx, "IT01234567890_00003.xml"); seen {
		t.Fatal("an unknown file name is seen")
	}
}

func TestCheckRules(t *testing.T) {
	var good, bad yaml.Node
	yaml.Unmarshal([]byte("- id: cig\n  path: //CodiceCIG\n  required: true\n  message: Indicare il CIG\n"), &good)
	if ps := CheckRules(good.Content[0]); len(ps) != 0 {
		t.Fatalf("good rules: %v", ps)
	}
	yaml.Unmarshal([]byte("\n- id: cig\n  path: \"//CodiceCIG[\"\n  required: true\n  message: x\n"), &bad)
	ps := CheckRules(bad.Content[0])
	if len(ps) != 1 || ps[0].Line < 2 || !strings.Contains(ps[0].Msg, "passive.prevalidation.rules") {
		t.Fatalf("bad rules: %+v", ps)
	}
	var typo yaml.Node
	yaml.Unmarshal([]byte("- id: cig\n  path: //CodiceCIG\n  requird: true\n  message: x\n"), &typo)
	if ps := CheckRules(typo.Content[0]); len(ps) == 0 || ps[0].Line != 3 {
		t.Fatalf("a misspelt key is not refused on its line: %+v", ps)
	}
}
