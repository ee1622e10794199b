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
