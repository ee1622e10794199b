package posdb

import "snodo/pkg/store"

// Migrations create the module's tables; pass them in store.Options.Migrations.
//
//   - pagopa_positions: one row per position; doc is the position as JSON, the columns
//     beside it are what queries filter on (state and version are authoritative).
//   - pagopa_notices: the index from (ente, IUV) and (ente, notice number) to a position
//     (a notice number determines its IUV, so one IUV check covers both).
//   - pagopa_receipts: every receipt accepted from the Node, with the request as received
//     and the anomalies found (an operator reviews rows whose anomalies are not empty).
//   - pagopa_quarantine: receipts and requests refused (unknown ente, wrong station,
//     conflicting receipt): kept for an operator, never dropped.
//
// Version 2 adds pagopa_iuv_counters: the IUV base sequence of each ente and numbering
// scheme (aux digit and code), incremented in the transaction that uses it.
var Migrations = []store.Migration{{
	Module:  "pagopa",
	Version: 1,
	SQLite: `
CREATE TABLE pagopa_positions (
	id INTEGER PRIMARY KEY,
	ente TEXT NOT NULL,
	iupd TEXT NOT NULL,
	state TEXT NOT NULL,
	version INTEGER NOT NULL,
	amount INTEGER NOT NULL,
	debtor_id TEXT NOT NULL,
	type TEXT NOT NULL DEFAULT '',
	document TEXT NOT NULL DEFAULT '',
	expiry_date TEXT NOT NULL DEFAULT '',
	content_hash TEXT NOT NULL,
	doc TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	UNIQUE (ente, iupd)
);
CREATE INDEX pagopa_positions_debtor ON pagopa_positions(ente, debtor_id, id);
CREATE TABLE pagopa_notices (
	ente TEXT NOT NULL,
	iuv TEXT NOT NULL,
	notice_number TEXT NOT NULL,
	position_id INTEGER NOT NULL,
	PRIMARY KEY (ente, iuv),
	UNIQUE (ente, notice_number)
) WITHOUT ROWID;
CREATE TABLE pagopa_receipts (
	id INTEGER PRIMARY KEY,
	id_pa TEXT NOT NULL,
	receipt_id TEXT NOT NULL,
	fiscal_code TEXT NOT NULL,
	notice_number TEXT NOT NULL,
	creditor_reference_id TEXT NOT NULL,
	amount INTEGER NOT NULL,
	outcome TEXT NOT NULL,
	id_psp TEXT NOT NULL DEFAULT '',
	payment_date_time TEXT NOT NULL DEFAULT '',
	station TEXT NOT NULL DEFAULT '',
	primitive TEXT NOT NULL,
	position_id INTEGER,
	anomalies TEXT NOT NULL DEFAULT '',
	raw BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	UNIQUE (id_pa, receipt_id)
);
CREATE INDEX pagopa_receipts_notice ON pagopa_receipts(fiscal_code, notice_number);
CREATE INDEX pagopa_receipts_anomalies ON pagopa_receipts(id) WHERE anomalies <> '';
CREATE TABLE pagopa_quarantine (
	id INTEGER PRIMARY KEY,
	operation TEXT NOT NULL,
	id_pa TEXT NOT NULL DEFAULT '',
	id_broker TEXT NOT NULL DEFAULT '',
	id_station TEXT NOT NULL DEFAULT '',
	fault_code TEXT NOT NULL,
	reason TEXT NOT NULL,
	raw BLOB NOT NULL,
	created_at INTEGER NOT NULL
);
`,
	Postgres: `
CREATE TABLE pagopa_positions (
	id BIGSERIAL PRIMARY KEY,
	ente TEXT NOT NULL,
	iupd TEXT NOT NULL,
	state TEXT NOT NULL,
	version BIGINT NOT NULL,
	amount BIGINT NOT NULL,
	debtor_id TEXT NOT NULL,
	type TEXT NOT NULL DEFAULT '',
	document TEXT NOT NULL DEFAULT '',
	expiry_date TEXT NOT NULL DEFAULT '',
	content_hash TEXT NOT NULL,
	doc TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	UNIQUE (ente, iupd)
);
CREATE INDEX pagopa_positions_debtor ON pagopa_positions(ente, debtor_id, id);
CREATE TABLE pagopa_notices (
	ente TEXT NOT NULL,
	iuv TEXT NOT NULL,
	notice_number TEXT NOT NULL,
	position_id BIGINT NOT NULL,
	PRIMARY KEY (ente, iuv),
	UNIQUE (ente, notice_number)
);
CREATE TABLE pagopa_receipts (
	id BIGSERIAL PRIMARY KEY,
	id_pa TEXT NOT NULL,
	receipt_id TEXT NOT NULL,
	fiscal_code TEXT NOT NULL,
	notice_number TEXT NOT NULL,
	creditor_reference_id TEXT NOT NULL,
	amount BIGINT NOT NULL,
	outcome TEXT NOT NULL,
	id_psp TEXT NOT NULL DEFAULT '',
	payment_date_time TEXT NOT NULL DEFAULT '',
	station TEXT NOT NULL DEFAULT '',
	primitive TEXT NOT NULL,
	position_id BIGINT,
	anomalies TEXT NOT NULL DEFAULT '',
	raw BYTEA NOT NULL,
	created_at BIGINT NOT NULL,
	UNIQUE (id_pa, receipt_id)
);
CREATE INDEX pagopa_receipts_notice ON pagopa_receipts(fiscal_code, notice_number);
CREATE INDEX pagopa_receipts_anomalies ON pagopa_receipts(id) WHERE anomalies <> '';
CREATE TABLE pagopa_quarantine (
	id BIGSERIAL PRIMARY KEY,
	operation TEXT NOT NULL,
	id_pa TEXT NOT NULL DEFAULT '',
	id_broker TEXT NOT NULL DEFAULT '',
	id_station TEXT NOT NULL DEFAULT '',
	fault_code TEXT NOT NULL,
	reason TEXT NOT NULL,
	raw BYTEA NOT NULL,
	created_at BIGINT NOT NULL
);
`,
}, {
	Module:   "pagopa",
	Version:  2,
	SQLite:   `CREATE TABLE pagopa_iuv_counters (ente TEXT NOT NULL, prefix TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (ente, prefix));`,
	Postgres: `CREATE TABLE pagopa_iuv_counters (ente TEXT NOT NULL, prefix TEXT NOT NULL, value BIGINT NOT NULL, PRIMARY KEY (ente, prefix));`,
}}
