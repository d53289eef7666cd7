package adminauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Role is an account's profile kind. The same email may hold both, as
// separate accounts with separate passwords and TOTP secrets.
type Role string

const (
	// RoleAdmin may manage user accounts on the gateway's account page.
	RoleAdmin Role = "admin"
	// RoleUser may use the proxied admin UI.
	RoleUser Role = "user"
)

// ParseRole accepts "admin" or "user".
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case RoleAdmin, RoleUser:
		return Role(s), nil
	}
	return "", fmt.Errorf("role %q: want admin or user", s)
}

// Status is an account's state. Accounts are never deleted, so records
// keep pointing at who acted; a disabled account cannot log in.
type Status string

const (
	StatusActive   Status = "active"
	StatusDisabled Status = "disabled"
)

// AccountKey identifies an account: email (lower-cased) and role.
type AccountKey struct {
	Email string
	Role  Role
}

func (k AccountKey) String() string { return k.Email + " (" + string(k.Role) + ")" }

// NormalizeEmail lower-cases and trims an email and checks its shape
// (one '@', something either side, no spaces or control characters).
func NormalizeEmail(s string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(s))
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || len(e) > 254 ||
		strings.ContainsFunc(e, func(r rune) bool { return r <= ' ' || r == 0x7f || r == ',' || r == '"' || r == '<' || r == '>' }) {
		return "", fmt.Errorf("email %q: not an email address", s)
	}
	return e, nil
}

// Account is one profile as stored. Secrets are only ever hashes
// (password) or sealed (TOTP).
type Account struct {
	AccountKey
	Name   string
	Status Status
	// PasswordHash is bcrypt of the peppered password; empty until the
	// person sets one (and after a reset).
	PasswordHash string
	// TOTPSealed is the AES-256-GCM sealed TOTP secret; empty until the
	// person enrols (and after a reset).
	TOTPSealed string
	// TOTPLastStep is the last time step whose code was accepted; a code
	// of that step or earlier is refused (no replay).
	TOTPLastStep int64
	FailedCount  int
	LockedUntil  time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Enrolled reports whether the account has both factors.
func (a *Account) Enrolled() bool { return a.PasswordHash != "" && a.TOTPSealed != "" }

// Session is a live login as stored (the id only as a hash).
type Session struct {
	AccountKey
	Name      string
	Status    Status // the account's current status
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time // absolute end
}

// Enrolment is a pending one-time enrolment link.
type Enrolment struct {
	AccountKey
	ExpiresAt time.Time
	// PendingTOTP is the sealed TOTP secret shown on the enrolment page,
	// kept only once the person proves it with a valid code.
	PendingTOTP string
}

// HistoryEntry is one change to an account. It never holds a secret.
type HistoryEntry struct {
	Seq int64
	At  time.Time
	AccountKey
	Action    string // created, disabled, enabled, password_set, password_changed, password_reset, totp_enrolled, totp_reset, locked, enrolment_issued
	Actor     string // who made the change: "cli:<user>", an admin's email, or the person
	OldStatus Status
	NewStatus Status
	Detail    string
}

// History actions.
const (
	ActionCreated         = "created"
	ActionDisabled        = "disabled"
	ActionEnabled         = "enabled"
	ActionPasswordSet     = "password_set"
	ActionPasswordChanged = "password_changed"
	ActionPasswordReset   = "password_reset"
	ActionTOTPEnrolled    = "totp_enrolled"
	ActionTOTPReset       = "totp_reset"
	ActionLocked          = "locked"
	ActionEnrolmentIssued = "enrolment_issued"
)

// Store errors.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// Store keeps accounts, enrolments, sessions, failure counters and the
// history. Every method that changes an account appends its history row
// in the same transaction. Implementations are safe for concurrent use,
// also by several processes (gateways and the CLI) sharing one database.
type Store interface {
	CreateAccount(ctx context.Context, a *Account, actor string, now time.Time) error
	Account(ctx context.Context, k AccountKey) (*Account, error)
	ListAccounts(ctx context.Context, role Role) ([]*Account, error)
	// SetStatus changes the status; disabling ends the account's sessions.
	// changed is false when the account already had that status.
	SetStatus(ctx context.Context, k AccountKey, st Status, actor string, now time.Time) (changed bool, err error)
	// SetPassword stores a new hash (empty: reset) with action, and ends
	// the account's sessions except keepSession (a session id hash).
	SetPassword(ctx context.Context, k AccountKey, hash, action, actor, keepSession string, now time.Time) error
	// ResetTOTP removes the TOTP secret and ends the account's sessions.
	ResetTOTP(ctx context.Context, k AccountKey, actor string, now time.Time) error
	// UseTOTPStep records step as used; ok is false when that step (or a
	// later one) was already used — a replayed code.
	UseTOTPStep(ctx context.Context, k AccountKey, step int64) (ok bool, err error)
	// RecordFailure counts a failed login; when the count reaches max the
	// account is locked until now+lockFor, the count restarts and locked
	// is true.
	RecordFailure(ctx context.Context, k AccountKey, max int, lockFor time.Duration, now time.Time) (locked bool, err error)
	ClearFailures(ctx context.Context, k AccountKey) error
	// AddrFailure counts a failed login from addr within a fixed window and
	// returns the count so far; AddrFailures only reads it.
	AddrFailure(ctx context.Context, addr string, window time.Duration, now time.Time) (int, error)
	AddrFailures(ctx context.Context, addr string, window time.Duration, now time.Time) (int, error)

	// CreateEnrolment stores a new enrolment token hash for the account,
	// replacing any earlier one, and appends history.
	CreateEnrolment(ctx context.Context, k AccountKey, tokenHash string, expires time.Time, actor string, now time.Time) error
	// Enrolment returns the unused, unexpired enrolment for tokenHash.
	Enrolment(ctx context.Context, tokenHash string, now time.Time) (*Enrolment, error)
	SetEnrolmentPending(ctx context.Context, tokenHash, sealedTOTP string) error
	// CompleteEnrolment consumes the token (single use: fails with
	// ErrNotFound if used or expired meanwhile) and sets whichever of
	// password hash and sealed TOTP secret are non-empty.
	CompleteEnrolment(ctx context.Context, tokenHash, passwordHash, sealedTOTP string, totpStep int64, now time.Time) error

	CreateSession(ctx context.Context, idHash string, k AccountKey, now, expires time.Time) error
	// Session returns the session with its account's current name and
	// status, or ErrNotFound.
	Session(ctx context.Context, idHash string) (*Session, error)
	TouchSession(ctx context.Context, idHash string, now time.Time) error
	// EndSession removes a session; ok is false if it did not exist.
	EndSession(ctx context.Context, idHash string) (ok bool, err error)
	// EndAllSessions removes every session of role (all roles if empty)
	// and returns how many.
	EndAllSessions(ctx context.Context, role Role) (int, error)
	// PurgeExpired removes sessions, enrolments and address counters that
	// can no longer matter.
	PurgeExpired(ctx context.Context, now time.Time, idle time.Duration) error

	// History returns an account email's history, oldest first (both roles).
	History(ctx context.Context, email string) ([]*HistoryEntry, error)
	// Unemitted returns up to limit history rows not yet sent to the audit
	// pipeline; Claim marks one as sent (false if another gateway did), and
	// Unclaim undoes that when sending failed.
	Unemitted(ctx context.Context, limit int) ([]*HistoryEntry, error)
	Claim(ctx context.Context, seq int64) (bool, error)
	Unclaim(ctx context.Context, seq int64) error

	Close() error
}
