package sdipec

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"snodo/pkg/store"
)

// migrations create sdipec_indirizzi: per hub mailbox, the SdI box the SdI told the
// hub (as a transmitter) to use, and when it last said so.
var migrations = []store.Migration{{
	Module:  "sdipec",
	Version: 1,
	SQLite: `CREATE TABLE sdipec_indirizzi (
	casella TEXT PRIMARY KEY,
	indirizzo TEXT NOT NULL,
	aggiornato TEXT NOT NULL
);`,
	Postgres: `CREATE TABLE sdipec_indirizzi (
	casella TEXT PRIMARY KEY,
	indirizzo TEXT NOT NULL,
	aggiornato TEXT NOT NULL
);`,
}}

// SdIAddress returns the SdI box the hub sends to: the one the SdI assigned with its
// answers (learned), else sdi.address.
func (m *Module) SdIAddress(ctx context.Context) (string, error) {
	if !m.enabled {
		return "", errNotEnabled
	}
	var addr string
	err := m.h.Store.DB().QueryRowContext(ctx, m.h.Store.Rebind(`SELECT indirizzo FROM sdipec_indirizzi WHERE casella = ?`), m.mb.Address).Scan(&addr)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return m.mb.FirstSdI, nil
	case err != nil:
		return "", fmt.Errorf("sdipec: lettura dell'indirizzo SdI appreso (reading the learned SdI address): %w", err)
	}
	m.mu.Lock()
	m.learned = addr
	m.mu.Unlock()
	return addr, nil
}

// learn records addr as the SdI box to use from now on, when it differs from the one
// known.
func (m *Module) learn(ctx context.Context, addr string) error {
	addr = strings.ToLower(strings.TrimSpace(addr))
	m.mu.Lock()
	same := m.learned == addr
	m.mu.Unlock()
	if same {
		return nil
	}
	cur, err := m.SdIAddress(ctx)
	if err != nil {
		return err
	}
	if cur == addr && cur != m.mb.FirstSdI {
		return nil
	}
	_, err = m.h.Store.DB().ExecContext(ctx, m.h.Store.Rebind(`INSERT INTO sdipec_indirizzi (casella, indirizzo, aggiornato) VALUES (?, ?, ?)
ON CONFLICT (casella) DO UPDATE SET indirizzo = excluded.indirizzo, aggiornato = excluded.aggiornato`),
		m.mb.Address, addr, m.now().UTC().Format(time.RFC3339))
	if err != nil {
		return fmt.Errorf("sdipec: registrazione dell'indirizzo SdI %s (recording the SdI address): %w", addr, err)
	}
	m.mu.Lock()
	m.learned = addr
	m.mu.Unlock()
	if cur != addr {
		m.log.Info("indirizzo PEC dello SdI appreso: i prossimi invii vanno a questo (SdI PEC address learned: next sends go there)",
			"indirizzo", addr, "precedente", cur)
	}
	return nil
}

var errNotEnabled = errors.New("sdipec: SdI via PEC non attivo: impostare sdi.channel: pec e sdi.pec in snodo.yaml (SdI over PEC not enabled)")
