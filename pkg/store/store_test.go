package store_test

import (
	"testing"
	"time"

	"snodo/pkg/store"
	"snodo/pkg/store/storetest"
)

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) store.Store {
		return storetest.OpenSQLite(t, store.Options{Now: now})
	})
}

func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) store.Store {
		return storetest.OpenPostgres(t, store.Options{Now: now})
	})
}

func TestSQLiteSynchronousFull(t *testing.T) {
	s := storetest.OpenSQLite(t, store.Options{SynchronousFull: true})
	var mode int
	// Each connection applies the DSN's pragmas; read it back on the writer.
	if err := s.DB().QueryRow(`PRAGMA synchronous`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != 2 { // FULL
		t.Fatalf("synchronous = %d, want 2 (FULL)", mode)
	}
	n := storetest.OpenSQLite(t, store.Options{})
	if err := n.DB().QueryRow(`PRAGMA synchronous`).Scan(&mode); err != nil || mode != 1 {
		t.Fatalf("default synchronous = %d (%v), want 1 (NORMAL)", mode, err)
	}
}
