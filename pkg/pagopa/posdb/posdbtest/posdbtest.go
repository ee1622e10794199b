// Package posdbtest opens real position repositories for tests (SQLite in a temporary
// directory, PostgreSQL in a fresh schema) and builds sample configuration and positions.
package posdbtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"snodo/pkg/pagopa"
	"snodo/pkg/pagopa/posdb"
	"snodo/pkg/pagopa/position"
	"snodo/pkg/store"
	"snodo/pkg/store/storetest"
)

// Dialects lists the databases every repository test runs on.
var Dialects = []store.Dialect{store.SQLite, store.Postgres}

// OpenStore opens a fresh store of the dialect with the pagoPA migrations.
func OpenStore(t testing.TB, d store.Dialect, now func() time.Time) store.Store {
	t.Helper()
	o := store.Options{Migrations: posdb.Migrations, Now: now}
	if d == store.Postgres {
		return storetest.OpenPostgres(t, o)
	}
	return storetest.OpenSQLite(t, o)
}

// Open opens a repository over a fresh store of the dialect.
func Open(t testing.TB, d store.Dialect, o posdb.Options) *posdb.DB {
	t.Helper()
	return posdb.New(OpenStore(t, d, o.Now), o)
}

// Config is a broker with one V2 station and two enti: 01234567897 (aux 3, segregation
// code 01) and the pagoPA test creditor 77777777777 of the mock-ec samples (aux 3,
// segregation code 02, unchecked notices allowed).
func Config() *pagopa.Config {
	return &pagopa.Config{
		BrokerID: "77777777777",
		Stations: []pagopa.Station{{ID: "77777777777_01", Version: 2}, {ID: "77777777777_02", Version: 1}},
		Enti: []pagopa.Ente{
			{FiscalCode: "01234567897", Name: "Comune di Esempio", Office: "Ufficio Tributi", Stations: []string{"77777777777_01"},
				AuxDigit: 3, SegregationCode: 1, IBAN: "IT60X0542811101000000123456"},
			{FiscalCode: "77777777777", Name: "Ente Creditore Test", Stations: []string{"77777777777_01"},
				AuxDigit: 3, SegregationCode: 2, IBAN: "IT45R0760103200000000001016", AllowUncheckedNotices: true},
		},
	}
}

// Position returns a valid single-payment position of ente 01234567897 for cents,
// with one transfer, due at the end of 2099.
func Position(iupd string, cents int64) *position.Position {
	return &position.Position{
		IUPD:        iupd,
		Description: "Pendenza di prova " + iupd,
		Debtor:      position.Debtor{Type: "F", ID: "RSSMRA30A01H501I", Name: "Mario Rossi", Email: "mario.rossi@example.it"},
		Options: []position.Option{{
			Amount:  cents,
			DueDate: position.NewDate(2099, 12, 31),
			Transfers: []position.Transfer{{Amount: cents, IBAN: "IT60X0542811101000000123456",
				Remittance: "Pendenza " + iupd, Category: "9/0101002IM"}},
		}},
	}
}

// MustCreate stores p for the ente or fails the test.
func MustCreate(t testing.TB, db *posdb.DB, e *pagopa.Ente, p *position.Position) *position.Position {
	t.Helper()
	if _, err := db.Create(context.Background(), e, p); err != nil {
		t.Fatalf("create %s: %v", p.IUPD, err)
	}
	return p
}

// Name is a test-friendly label of a dialect.
func Name(d store.Dialect) string { return fmt.Sprint(d) }

// OpenPair opens two independent stores on one fresh database, as two hub instances
// sharing it would.
func OpenPair(t testing.TB, d store.Dialect) (store.Store, store.Store) {
	t.Helper()
	ctx := context.Background()
	o := store.Options{Migrations: posdb.Migrations}
	var dsn, dir string
	open := func() store.Store {
		var s store.Store
		var err error
		if d == store.Postgres {
			s, err = store.OpenPostgres(ctx, dsn, o)
		} else {
			s, err = store.OpenSQLite(ctx, dir, o)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	if d == store.Postgres {
		dsn = storetest.NewPostgresSchema(t)
	} else {
		dir = t.TempDir()
	}
	return open(), open()
}
