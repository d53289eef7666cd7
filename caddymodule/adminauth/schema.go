package adminauth

import "fmt"

// The schema is the same for SQLite and PostgreSQL except for the history
// table's sequence column: times are BIGINT Unix milliseconds and sealed
// secrets TEXT, so every query runs unchanged on both (with ? placeholders
// rewritten to $n for PostgreSQL).
const schemaCommon = `
CREATE TABLE IF NOT EXISTS crgate_accounts (
	email          TEXT    NOT NULL,
	role           TEXT    NOT NULL CHECK (role IN ('admin', 'user')),
	name           TEXT    NOT NULL DEFAULT '',
	status         TEXT    NOT NULL CHECK (status IN ('active', 'disabled')),
	password_hash  TEXT    NOT NULL DEFAULT '',
	totp_sealed    TEXT    NOT NULL DEFAULT '',
	totp_last_step BIGINT  NOT NULL DEFAULT 0,
	failed_count   INTEGER NOT NULL DEFAULT 0,
	locked_until   BIGINT  NOT NULL DEFAULT 0,
	created_at     BIGINT  NOT NULL,
	updated_at     BIGINT  NOT NULL,
	PRIMARY KEY (email, role)
);
CREATE TABLE IF NOT EXISTS crgate_enrolments (
	token_hash   TEXT   NOT NULL PRIMARY KEY,
	email        TEXT   NOT NULL,
	role         TEXT   NOT NULL,
	expires_at   BIGINT NOT NULL,
	used_at      BIGINT NOT NULL DEFAULT 0,
	pending_totp TEXT   NOT NULL DEFAULT '',
	created_at   BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS crgate_enrolments_account ON crgate_enrolments (email, role);
CREATE TABLE IF NOT EXISTS crgate_sessions (
	id_hash    TEXT   NOT NULL PRIMARY KEY,
	email      TEXT   NOT NULL,
	role       TEXT   NOT NULL,
	created_at BIGINT NOT NULL,
	last_seen  BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS crgate_sessions_account ON crgate_sessions (email, role);
CREATE TABLE IF NOT EXISTS crgate_addr_failures (
	addr         TEXT    NOT NULL PRIMARY KEY,
	window_start BIGINT  NOT NULL,
	count        INTEGER NOT NULL
);
`

// schemaHistory is the history table; %s is the auto-numbered sequence
// column, the one type the two databases spell differently.
const schemaHistory = `
CREATE TABLE IF NOT EXISTS crgate_history (
	seq        %s,
	at         BIGINT  NOT NULL,
	email      TEXT    NOT NULL,
	role       TEXT    NOT NULL,
	action     TEXT    NOT NULL,
	actor      TEXT    NOT NULL,
	old_status TEXT    NOT NULL DEFAULT '',
	new_status TEXT    NOT NULL DEFAULT '',
	detail     TEXT    NOT NULL DEFAULT '',
	emitted    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS crgate_history_email ON crgate_history (email);
CREATE INDEX IF NOT EXISTS crgate_history_emitted ON crgate_history (emitted, seq);
`

var (
	schemaHistorySQLite   = fmt.Sprintf(schemaHistory, "INTEGER PRIMARY KEY AUTOINCREMENT")
	schemaHistoryPostgres = fmt.Sprintf(schemaHistory, "BIGSERIAL PRIMARY KEY")
)
