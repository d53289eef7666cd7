package adminauth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	// PostgreSQL through database/sql, so both stores share every query.
	// pgx is already in the module graph through Caddy's dependencies.
	_ "github.com/jackc/pgx/v5/stdlib"
	// A pure-Go SQLite (a C library transpiled to Go): the default store
	// needs no cgo, no C toolchain and no server, and the binary stays
	// statically linked.
	_ "modernc.org/sqlite"
)

// sqlStore is the Store over database/sql for SQLite and PostgreSQL.
type sqlStore struct {
	db       *sql.DB
	postgres bool
}

// OpenSQLite opens (creating if needed, mode 0600) the SQLite store at path.
func OpenSQLite(ctx context.Context, path string) (Store, error) {
	if path == "" {
		return nil, errors.New("sqlite store: path is required")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	// Create the file ourselves so it is 0600 from the start; SQLite gives
	// its -wal and -shm files the database file's permissions.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	f.Close()
	// WAL lets readers run beside a writer; busy_timeout makes a writer
	// wait for another process (the CLI, a second gateway) instead of
	// failing; immediate transactions take the write lock up front, so two
	// read-then-write transactions cannot deadlock.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite store %s: %w", path, err)
	}
	// One connection: SQLite serialises writers anyway, and within one
	// process a single connection never sees SQLITE_BUSY from itself.
	db.SetMaxOpenConns(1)
	s := &sqlStore{db: db}
	if err := s.migrate(ctx, schemaCommon+schemaHistorySQLite); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite store %s: %w", path, err)
	}
	return s, nil
}

// OpenPostgres opens the PostgreSQL store at dsn (a libpq URL or
// key=value string) and creates its tables if missing.
func OpenPostgres(ctx context.Context, dsn string) (Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	db.SetMaxOpenConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &sqlStore{db: db, postgres: true}
	if err := s.migrate(ctx, schemaCommon+schemaHistoryPostgres); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	return s, nil
}

func (s *sqlStore) migrate(ctx context.Context, schema string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if s.postgres {
			// Gateways starting together would race on CREATE TABLE.
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(726173)"); err != nil {
				return err
			}
		}
		for _, stmt := range strings.Split(schema, ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("creating schema: %w", err)
			}
		}
		return nil
	})
}

func (s *sqlStore) Close() error { return s.db.Close() }

// q rewrites ? placeholders to $1, $2… for PostgreSQL. No query of this
// file has a literal '?'.
func (s *sqlStore) q(query string) string {
	if !s.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *sqlStore) exec(ctx context.Context, e execer, query string, args ...any) (int64, error) {
	res, err := e.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s *sqlStore) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

func (s *sqlStore) history(ctx context.Context, e execer, h *HistoryEntry) error {
	_, err := s.exec(ctx, e, `INSERT INTO crgate_history (at, email, role, action, actor, old_status, new_status, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		ms(h.At), h.Email, string(h.Role), h.Action, h.Actor, string(h.OldStatus), string(h.NewStatus), h.Detail)
	if err != nil {
		return fmt.Errorf("appending history: %w", err)
	}
	return nil
}

func (s *sqlStore) CreateAccount(ctx context.Context, a *Account, actor string, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM crgate_accounts WHERE email = ? AND role = ?`), a.Email, string(a.Role)).Scan(&one)
		if err == nil {
			return fmt.Errorf("account %s: %w", a.AccountKey, ErrExists)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO crgate_accounts (email, role, name, status, password_hash, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, a.Email, string(a.Role), a.Name, string(a.Status), a.PasswordHash, ms(now), ms(now)); err != nil {
			return fmt.Errorf("creating account %s: %w", a.AccountKey, err)
		}
		return s.history(ctx, tx, &HistoryEntry{At: now, AccountKey: a.AccountKey, Action: ActionCreated, Actor: actor, NewStatus: a.Status})
	})
}

const accountCols = `email, role, name, status, password_hash, totp_sealed, totp_last_step, failed_count, locked_until, created_at, updated_at`

func scanAccount(sc interface{ Scan(...any) error }) (*Account, error) {
	var a Account
	var role, status string
	var locked, created, updated int64
	if err := sc.Scan(&a.Email, &role, &a.Name, &status, &a.PasswordHash, &a.TOTPSealed, &a.TOTPLastStep, &a.FailedCount, &locked, &created, &updated); err != nil {
		return nil, err
	}
	a.Role, a.Status = Role(role), Status(status)
	a.LockedUntil, a.CreatedAt, a.UpdatedAt = fromMS(locked), fromMS(created), fromMS(updated)
	return &a, nil
}

func (s *sqlStore) Account(ctx context.Context, k AccountKey) (*Account, error) {
	a, err := scanAccount(s.db.QueryRowContext(ctx, s.q(`SELECT `+accountCols+` FROM crgate_accounts WHERE email = ? AND role = ?`), k.Email, string(k.Role)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("account %s: %w", k, ErrNotFound)
	}
	return a, err
}

func (s *sqlStore) ListAccounts(ctx context.Context, role Role) ([]*Account, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+accountCols+` FROM crgate_accounts WHERE role = ? OR ? = '' ORDER BY email, role`), string(role), string(role))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func (s *sqlStore) status(ctx context.Context, e execer, k AccountKey) (Status, error) {
	var st string
	err := e.QueryRowContext(ctx, s.q(`SELECT status FROM crgate_accounts WHERE email = ? AND role = ?`), k.Email, string(k.Role)).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("account %s: %w", k, ErrNotFound)
	}
	return Status(st), err
}

func (s *sqlStore) SetStatus(ctx context.Context, k AccountKey, st Status, actor string, now time.Time) (changed bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		old, err := s.status(ctx, tx, k)
		if err != nil || old == st {
			return err
		}
		changed = true
		if _, err := s.exec(ctx, tx, `UPDATE crgate_accounts SET status = ?, failed_count = 0, locked_until = 0, updated_at = ? WHERE email = ? AND role = ?`,
			string(st), ms(now), k.Email, string(k.Role)); err != nil {
			return err
		}
		if st == StatusDisabled {
			if _, err := s.exec(ctx, tx, `DELETE FROM crgate_sessions WHERE email = ? AND role = ?`, k.Email, string(k.Role)); err != nil {
				return err
			}
		}
		action := ActionEnabled
		if st == StatusDisabled {
			action = ActionDisabled
		}
		return s.history(ctx, tx, &HistoryEntry{At: now, AccountKey: k, Action: action, Actor: actor, OldStatus: old, NewStatus: st})
	})
	return changed, err
}

func (s *sqlStore) SetPassword(ctx context.Context, k AccountKey, hash, action, actor, keepSession string, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		st, err := s.status(ctx, tx, k)
		if err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `UPDATE crgate_accounts SET password_hash = ?, updated_at = ? WHERE email = ? AND role = ?`,
			hash, ms(now), k.Email, string(k.Role)); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM crgate_sessions WHERE email = ? AND role = ? AND id_hash <> ?`, k.Email, string(k.Role), keepSession); err != nil {
			return err
		}
		return s.history(ctx, tx, &HistoryEntry{At: now, AccountKey: k, Action: action, Actor: actor, OldStatus: st, NewStatus: st})
	})
}

func (s *sqlStore) ResetTOTP(ctx context.Context, k AccountKey, actor string, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		st, err := s.status(ctx, tx, k)
		if err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `UPDATE crgate_accounts SET totp_sealed = '', totp_last_step = 0, updated_at = ? WHERE email = ? AND role = ?`,
			ms(now), k.Email, string(k.Role)); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM crgate_sessions WHERE email = ? AND role = ?`, k.Email, string(k.Role)); err != nil {
			return err
		}
		return s.history(ctx, tx, &HistoryEntry{At: now, AccountKey: k, Action: ActionTOTPReset, Actor: actor, OldStatus: st, NewStatus: st})
	})
}

func (s *sqlStore) UseTOTPStep(ctx context.Context, k AccountKey, step int64) (bool, error) {
	// One conditional UPDATE: two gateways racing with the same code
	// cannot both succeed.
	n, err := s.exec(ctx, s.db, `UPDATE crgate_accounts SET totp_last_step = ? WHERE email = ? AND role = ? AND totp_last_step < ?`,
		step, k.Email, string(k.Role), step)
	return n == 1, err
}

func (s *sqlStore) RecordFailure(ctx context.Context, k AccountKey, maxFailures int, lockFor time.Duration, now time.Time) (locked bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var count int
		err := tx.QueryRowContext(ctx, s.q(`UPDATE crgate_accounts SET failed_count = failed_count + 1 WHERE email = ? AND role = ? RETURNING failed_count`),
			k.Email, string(k.Role)).Scan(&count)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // unknown account: only the address counter applies
		}
		if err != nil || count < maxFailures {
			return err
		}
		locked = true
		if _, err := s.exec(ctx, tx, `UPDATE crgate_accounts SET failed_count = 0, locked_until = ? WHERE email = ? AND role = ?`,
			ms(now.Add(lockFor)), k.Email, string(k.Role)); err != nil {
			return err
		}
		st, err := s.status(ctx, tx, k)
		if err != nil {
			return err
		}
		return s.history(ctx, tx, &HistoryEntry{At: now, AccountKey: k, Action: ActionLocked, Actor: "admin_login",
			OldStatus: st, NewStatus: st, Detail: fmt.Sprintf("%d failed logins; locked until %s", count, now.Add(lockFor).UTC().Format(time.RFC3339))})
	})
	return locked, err
}

func (s *sqlStore) ClearFailures(ctx context.Context, k AccountKey) error {
	_, err := s.exec(ctx, s.db, `UPDATE crgate_accounts SET failed_count = 0 WHERE email = ? AND role = ? AND failed_count <> 0`, k.Email, string(k.Role))
	return err
}

func (s *sqlStore) AddrFailure(ctx context.Context, addr string, window time.Duration, now time.Time) (int, error) {
	var count int
	// A fixed window per address: the first failure after the window ends
	// starts a new one.
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO crgate_addr_failures (addr, window_start, count) VALUES (?, ?, 1)
		ON CONFLICT (addr) DO UPDATE SET
			count = CASE WHEN crgate_addr_failures.window_start < ? THEN 1 ELSE crgate_addr_failures.count + 1 END,
			window_start = CASE WHEN crgate_addr_failures.window_start < ? THEN ? ELSE crgate_addr_failures.window_start END
		RETURNING count`), addr, ms(now), ms(now.Add(-window)), ms(now.Add(-window)), ms(now)).Scan(&count)
	return count, err
}

func (s *sqlStore) AddrFailures(ctx context.Context, addr string, window time.Duration, now time.Time) (int, error) {
	var count int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT count FROM crgate_addr_failures WHERE addr = ? AND window_start >= ?`), addr, ms(now.Add(-window))).Scan(&count)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return count, err
}

func (s *sqlStore) CreateEnrolment(ctx context.Context, k AccountKey, tokenHash string, expires time.Time, actor string, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		st, err := s.status(ctx, tx, k)
		if err != nil {
			return err
		}
		// Only the newest link of an account works.
		if _, err := s.exec(ctx, tx, `DELETE FROM crgate_enrolments WHERE email = ? AND role = ?`, k.Email, string(k.Role)); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO crgate_enrolments (token_hash, email, role, expires_at, created_at) VALUES (?, ?, ?, ?, ?)`,
			tokenHash, k.Email, string(k.Role), ms(expires), ms(now)); err != nil {
			return err
		}
		return s.history(ctx, tx, &HistoryEntry{At: now, AccountKey: k, Action: ActionEnrolmentIssued, Actor: actor, OldStatus: st, NewStatus: st,
			Detail: "expires " + expires.UTC().Format(time.RFC3339)})
	})
}

func (s *sqlStore) Enrolment(ctx context.Context, tokenHash string, now time.Time) (*Enrolment, error) {
	var e Enrolment
	var role string
	var exp int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT email, role, expires_at, pending_totp FROM crgate_enrolments WHERE token_hash = ? AND used_at = 0 AND expires_at > ?`),
		tokenHash, ms(now)).Scan(&e.Email, &role, &exp, &e.PendingTOTP)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("enrolment: %w", ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	e.Role, e.ExpiresAt = Role(role), fromMS(exp)
	return &e, nil
}

func (s *sqlStore) SetEnrolmentPending(ctx context.Context, tokenHash, sealed string) error {
	_, err := s.exec(ctx, s.db, `UPDATE crgate_enrolments SET pending_totp = ? WHERE token_hash = ? AND used_at = 0`, sealed, tokenHash)
	return err
}

func (s *sqlStore) CompleteEnrolment(ctx context.Context, tokenHash, passwordHash, sealedTOTP string, step int64, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var e Enrolment
		var role string
		err := tx.QueryRowContext(ctx, s.q(`SELECT email, role FROM crgate_enrolments WHERE token_hash = ? AND used_at = 0 AND expires_at > ?`),
			tokenHash, ms(now)).Scan(&e.Email, &role)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("enrolment: %w", ErrNotFound)
		}
		if err != nil {
			return err
		}
		e.Role = Role(role)
		if n, err := s.exec(ctx, tx, `UPDATE crgate_enrolments SET used_at = ?, pending_totp = '' WHERE token_hash = ? AND used_at = 0`, ms(now), tokenHash); err != nil || n != 1 {
			if err == nil {
				err = fmt.Errorf("enrolment: %w", ErrNotFound)
			}
			return err
		}
		st, err := s.status(ctx, tx, e.AccountKey)
		if err != nil {
			return err
		}
		if passwordHash != "" {
			if _, err := s.exec(ctx, tx, `UPDATE crgate_accounts SET password_hash = ?, failed_count = 0, locked_until = 0, updated_at = ? WHERE email = ? AND role = ?`,
				passwordHash, ms(now), e.Email, role); err != nil {
				return err
			}
			if err := s.history(ctx, tx, &HistoryEntry{At: now, AccountKey: e.AccountKey, Action: ActionPasswordSet, Actor: e.Email, OldStatus: st, NewStatus: st, Detail: "through enrolment link"}); err != nil {
				return err
			}
		}
		if sealedTOTP != "" {
			if _, err := s.exec(ctx, tx, `UPDATE crgate_accounts SET totp_sealed = ?, totp_last_step = ?, updated_at = ? WHERE email = ? AND role = ?`,
				sealedTOTP, step, ms(now), e.Email, role); err != nil {
				return err
			}
			if err := s.history(ctx, tx, &HistoryEntry{At: now, AccountKey: e.AccountKey, Action: ActionTOTPEnrolled, Actor: e.Email, OldStatus: st, NewStatus: st, Detail: "through enrolment link"}); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *sqlStore) CreateSession(ctx context.Context, idHash string, k AccountKey, now, expires time.Time) error {
	_, err := s.exec(ctx, s.db, `INSERT INTO crgate_sessions (id_hash, email, role, created_at, last_seen, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		idHash, k.Email, string(k.Role), ms(now), ms(now), ms(expires))
	return err
}

func (s *sqlStore) Session(ctx context.Context, idHash string) (*Session, error) {
	var ss Session
	var role, status string
	var created, seen, exp int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT s.email, s.role, a.name, a.status, s.created_at, s.last_seen, s.expires_at
		FROM crgate_sessions s JOIN crgate_accounts a ON a.email = s.email AND a.role = s.role WHERE s.id_hash = ?`), idHash).
		Scan(&ss.Email, &role, &ss.Name, &status, &created, &seen, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	ss.Role, ss.Status = Role(role), Status(status)
	ss.CreatedAt, ss.LastSeen, ss.ExpiresAt = fromMS(created), fromMS(seen), fromMS(exp)
	return &ss, nil
}

func (s *sqlStore) TouchSession(ctx context.Context, idHash string, now time.Time) error {
	_, err := s.exec(ctx, s.db, `UPDATE crgate_sessions SET last_seen = ? WHERE id_hash = ? AND last_seen < ?`, ms(now), idHash, ms(now))
	return err
}

func (s *sqlStore) EndSession(ctx context.Context, idHash string) (bool, error) {
	n, err := s.exec(ctx, s.db, `DELETE FROM crgate_sessions WHERE id_hash = ?`, idHash)
	return n == 1, err
}

func (s *sqlStore) EndAllSessions(ctx context.Context, role Role) (int, error) {
	n, err := s.exec(ctx, s.db, `DELETE FROM crgate_sessions WHERE role = ? OR ? = ''`, string(role), string(role))
	return int(n), err
}

func (s *sqlStore) PurgeExpired(ctx context.Context, now time.Time, idle time.Duration) error {
	if _, err := s.exec(ctx, s.db, `DELETE FROM crgate_sessions WHERE expires_at <= ? OR last_seen <= ?`, ms(now), ms(now.Add(-idle))); err != nil {
		return err
	}
	if _, err := s.exec(ctx, s.db, `DELETE FROM crgate_enrolments WHERE expires_at <= ? OR used_at <> 0`, ms(now)); err != nil {
		return err
	}
	_, err := s.exec(ctx, s.db, `DELETE FROM crgate_addr_failures WHERE window_start <= ?`, ms(now.Add(-24*time.Hour)))
	return err
}

const historyCols = `seq, at, email, role, action, actor, old_status, new_status, detail`

func (s *sqlStore) queryHistory(ctx context.Context, query string, args ...any) ([]*HistoryEntry, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*HistoryEntry
	for rows.Next() {
		var h HistoryEntry
		var at int64
		var role, olds, news string
		if err := rows.Scan(&h.Seq, &at, &h.Email, &role, &h.Action, &h.Actor, &olds, &news, &h.Detail); err != nil {
			return nil, err
		}
		h.At, h.Role, h.OldStatus, h.NewStatus = fromMS(at), Role(role), Status(olds), Status(news)
		out = append(out, &h)
	}
	return out, rows.Err()
}

func (s *sqlStore) History(ctx context.Context, email string) ([]*HistoryEntry, error) {
	return s.queryHistory(ctx, `SELECT `+historyCols+` FROM crgate_history WHERE email = ? ORDER BY seq`, email)
}

func (s *sqlStore) Unemitted(ctx context.Context, limit int) ([]*HistoryEntry, error) {
	return s.queryHistory(ctx, `SELECT `+historyCols+` FROM crgate_history WHERE emitted = 0 ORDER BY seq LIMIT ?`, limit)
}

func (s *sqlStore) Claim(ctx context.Context, seq int64) (bool, error) {
	n, err := s.exec(ctx, s.db, `UPDATE crgate_history SET emitted = 1 WHERE seq = ? AND emitted = 0`, seq)
	return n == 1, err
}

func (s *sqlStore) Unclaim(ctx context.Context, seq int64) error {
	_, err := s.exec(ctx, s.db, `UPDATE crgate_history SET emitted = 0 WHERE seq = ?`, seq)
	return err
}

var _ Store = (*sqlStore)(nil)
