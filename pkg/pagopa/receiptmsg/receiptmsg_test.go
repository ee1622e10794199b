package receiptmsg_test

import (
	"context"
	"testing"

	"snodo/pkg/message"
	"snodo/pkg/pagopa/posdb"
	"snodo/pkg/pagopa/posdb/posdbtest"
	"snodo/pkg/pagopa/receiptmsg"
	"snodo/pkg/store"
)

func TestHookIngestsOnce(t *testing.T) {
	for _, d := range posdbtest.Dialects {
		t.Run(posdbtest.Name(d), func(t *testing.T) {
			ctx := context.Background()
			cfg := posdbtest.Config()
			cfg.Enti[0].RouteID = "comune-esempio"
			st := posdbtest.OpenStore(t, d, nil)
			db := posdb.New(st, posdb.Options{OnReceipt: receiptmsg.Hook(cfg, receiptmsg.Options{})})
			e := cfg.Ente("01234567897")
			p := posdbtest.MustCreate(t, db, e, posdbtest.Position("P", 500))
			o := p.Options[0]
			for i := 0; i < 2; i++ {
				if _, err := db.RecordReceipt(ctx, &posdb.Receipt{IDPA: e.FiscalCode, ReceiptID: "tok/../1", FiscalCode: e.FiscalCode,
					NoticeNumber: o.NoticeNumber, CreditorReferenceID: o.IUV, Amount: 500, TransfersAmount: 500, Outcome: "OK",
					Primitive: "paSendRTV2", Raw: []byte("<receipt/>")}); err != nil {
					t.Fatal(err)
				}
			}
			ids, err := st.FindByKey(ctx, "pagopa:notice:"+e.FiscalCode+":"+o.NoticeNumber)
			if err != nil || len(ids) != 1 {
				t.Fatalf("messages: %v %v", ids, err)
			}
			m, err := st.Get(ctx, ids[0])
			if err != nil {
				t.Fatal(err)
			}
			if m.Ente != "comune-esempio" || m.Kind != message.KindReceipt || m.Headers[receiptmsg.HeaderIUPD] != "P" ||
				m.Headers[receiptmsg.HeaderAmount] != "5.00" || m.FileName != "RT_01234567897_"+o.IUV+"_tok_.._1.xml" {
				t.Fatalf("message %+v", m)
			}
			jobs, err := st.Jobs(ctx, m.ID)
			if err != nil || len(jobs) != 1 || jobs[0].Target != receiptmsg.Phase || jobs[0].State != store.JobPending {
				t.Fatalf("jobs %+v %v", jobs, err)
			}
			data, err := st.ReadFile(ctx, m.ID, m.FileName)
			if err != nil || string(data) != "<receipt/>" {
				t.Fatalf("file %q %v", data, err)
			}
		})
	}
}
