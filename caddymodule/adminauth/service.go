package adminauth

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Defaults for the account rules.
const (
	DefaultIdleTimeout     = 30 * time.Minute
	DefaultMaxLifetime     = 8 * time.Hour
	DefaultLockoutFailures = 3
	DefaultLockoutDuration = time.Hour
	DefaultEnrolmentTTL    = 24 * time.Hour
	// DefaultAddrFailures failed logins from one address within
	// DefaultAddrWindow make that address wait until the window ends,
	// whichever accounts it tried.
	DefaultAddrFailures = 20
	DefaultAddrWindow   = 15 * time.Minute
)

// Rules are the account rules a Service applies.
type Rules struct {
	IdleTimeout     time.Duration
	MaxLifetime     time.Duration
	LockoutFailures int
	LockoutDuration time.Duration
	EnrolmentTTL    time.Duration
	AddrFailures    int
	AddrWindow      time.Duration
	MinPasswordBits float64
}

func (r *Rules) fill() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&r.IdleTimeout, DefaultIdleTimeout)
	def(&r.MaxLifetime, DefaultMaxLifetime)
	def(&r.LockoutDuration, DefaultLockoutDuration)
	def(&r.EnrolmentTTL, DefaultEnrolmentTTL)
	def(&r.AddrWindow, DefaultAddrWindow)
	if r.LockoutFailures == 0 {
		r.LockoutFailures = DefaultLockoutFailures
	}
	if r.AddrFailures == 0 {
		r.AddrFailures = DefaultAddrFailures
	}
	if r.MinPasswordBits == 0 {
		r.MinPasswordBits = DefaultMinPasswordBits
	}
}

// Service is the account logic shared by the admin_login handler and the
// `crgate users` command: it owns the rules, the secrets and the store.
type Service struct {
	Store   Store
	Secrets *Secrets
	Rules   Rules
	// Now is the clock (a seam for tests).
	Now func() time.Time
}

// NewService returns a Service with rules' zero fields set to defaults.
func NewService(st Store, sec *Secrets, rules Rules) *Service {
	rules.fill()
	return &Service{Store: st, Secrets: sec, Rules: rules, Now: time.Now}
}

// LoginFailure is why a login failed. The person sees one generic message
// whatever it is; the audit record and the debug log get the reason.
type LoginFailure struct{ Reason string }

func (e *LoginFailure) Error() string { return "login failed: " + e.Reason }

// Login failure reasons (stable labels).
const (
	ReasonThrottled   = "address_throttled"
	ReasonUnknown     = "unknown_account"
	ReasonLocked      = "account_locked"
	ReasonDisabled    = "account_disabled"
	ReasonBadPassword = "wrong_password"
	ReasonBadCode     = "wrong_code"
	ReasonReusedCode  = "reused_code"
	ReasonNowLocked   = "locked_now"
)

// LoginResult is a successful login.
type LoginResult struct {
	Account   *Account
	SessionID string // the cookie value; only its hash is stored
	// EnrolToken is set instead of SessionID when the password was right
	// but the account has no TOTP secret yet (created with a one-time
	// password, or after a TOTP reset): the person enrols first.
	EnrolToken string
}

// Login checks email+role+password+code from addr and opens a session.
// Every failure costs one bcrypt comparison, so timing does not tell an
// unknown account from a wrong password; every failure of a known account
// counts toward its lockout, and every failure toward addr's throttle.
func (s *Service) Login(ctx context.Context, k AccountKey, password, code, addr string) (*LoginResult, error) {
	now := s.Now()
	fail := func(reason string) (*LoginResult, error) {
		if reason != ReasonThrottled {
			if _, err := s.Store.AddrFailure(ctx, addr, s.Rules.AddrWindow, now); err != nil {
				return nil, fmt.Errorf("counting failure: %w", err)
			}
		}
		if reason == ReasonBadPassword || reason == ReasonBadCode || reason == ReasonReusedCode {
			locked, err := s.Store.RecordFailure(ctx, k, s.Rules.LockoutFailures, s.Rules.LockoutDuration, now)
			if err != nil {
				return nil, fmt.Errorf("counting failure: %w", err)
			}
			if locked {
				reason = ReasonNowLocked
			}
		}
		return nil, &LoginFailure{Reason: reason}
	}
	n, err := s.Store.AddrFailures(ctx, addr, s.Rules.AddrWindow, now)
	if err != nil {
		return nil, err
	}
	if n >= s.Rules.AddrFailures {
		// No bcrypt here: a throttled address must not be able to keep
		// the CPU busy, and the timing reveals nothing about accounts.
		return fail(ReasonThrottled)
	}
	a, err := s.Store.Account(ctx, k)
	if errors.Is(err, ErrNotFound) {
		s.Secrets.VerifyPassword("", password)
		return fail(ReasonUnknown)
	}
	if err != nil {
		return nil, err
	}
	pwOK := s.Secrets.VerifyPassword(a.PasswordHash, password)
	switch {
	case a.Status != StatusActive:
		return fail(ReasonDisabled)
	case now.Before(a.LockedUntil):
		return fail(ReasonLocked)
	case !pwOK:
		return fail(ReasonBadPassword)
	case a.TOTPSealed == "":
		tok, err := s.IssueEnrolment(ctx, a.AccountKey, "admin_login")
		if err != nil {
			return nil, err
		}
		return &LoginResult{Account: a, EnrolToken: tok}, nil
	}
	secret, err := s.Secrets.openTOTP(a.AccountKey, a.TOTPSealed)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", a.AccountKey, err)
	}
	step, ok := matchTOTP(secret, code, now)
	if !ok {
		return fail(ReasonBadCode)
	}
	fresh, err := s.Store.UseTOTPStep(ctx, a.AccountKey, step)
	if err != nil {
		return nil, err
	}
	if !fresh {
		return fail(ReasonReusedCode)
	}
	if err := s.Store.ClearFailures(ctx, a.AccountKey); err != nil {
		return nil, err
	}
	id := randomToken(32) // 256 bits
	if err := s.Store.CreateSession(ctx, tokenHash(id), a.AccountKey, now, now.Add(s.Rules.MaxLifetime)); err != nil {
		return nil, fmt.Errorf("creating session: %w", err)
	}
	return &LoginResult{Account: a, SessionID: id}, nil
}

// Session end reasons.
const (
	EndNone     = ""
	EndIdle     = "idle_timeout"
	EndLifetime = "max_lifetime"
	EndDisabled = "account_disabled"
	EndMissing  = "no_session"
)

// CheckSession returns the live session for a cookie value. A session past
// its idle timeout or absolute lifetime, or whose account is disabled, is
// removed and reported by its reason (EndIdle…); an unknown id gives
// EndMissing.
func (s *Service) CheckSession(ctx context.Context, id string) (*Session, string, error) {
	if id == "" {
		return nil, EndMissing, nil
	}
	h := tokenHash(id)
	ss, err := s.Store.Session(ctx, h)
	if errors.Is(err, ErrNotFound) {
		return nil, EndMissing, nil
	}
	if err != nil {
		return nil, "", err
	}
	now := s.Now()
	end := EndNone
	switch {
	case ss.Status != StatusActive:
		end = EndDisabled
	case !now.Before(ss.ExpiresAt):
		end = EndLifetime
	case now.Sub(ss.LastSeen) >= s.Rules.IdleTimeout:
		end = EndIdle
	}
	if end != EndNone {
		if _, err := s.Store.EndSession(ctx, h); err != nil {
			return nil, "", err
		}
		return ss, end, nil
	}
	// Refresh last_seen only when it moved by a noticeable part of the idle
	// timeout: one write per minute at most, not one per request.
	if now.Sub(ss.LastSeen) >= min(s.Rules.IdleTimeout/30, time.Minute) {
		if err := s.Store.TouchSession(ctx, h, now); err != nil {
			return nil, "", err
		}
	}
	return ss, EndNone, nil
}

// Logout ends the session with cookie value id.
func (s *Service) Logout(ctx context.Context, id string) (bool, error) {
	if id == "" {
		return false, nil
	}
	return s.Store.EndSession(ctx, tokenHash(id))
}

// CreateAccount creates an account without a password or TOTP secret and
// returns its first enrolment token.
func (s *Service) CreateAccount(ctx context.Context, email, name string, role Role, actor string) (token string, err error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return "", err
	}
	k := AccountKey{Email: e, Role: role}
	if err := s.Store.CreateAccount(ctx, &Account{AccountKey: k, Name: name, Status: StatusActive}, actor, s.Now()); err != nil {
		return "", err
	}
	return s.IssueEnrolment(ctx, k, actor)
}

// IssueEnrolment makes a new one-time enrolment token for k (replacing any
// earlier one).
func (s *Service) IssueEnrolment(ctx context.Context, k AccountKey, actor string) (string, error) {
	tok := randomToken(32)
	now := s.Now()
	if err := s.Store.CreateEnrolment(ctx, k, tokenHash(tok), now.Add(s.Rules.EnrolmentTTL), actor, now); err != nil {
		return "", err
	}
	return tok, nil
}

// ResetPassword removes k's password, ends its sessions and issues an
// enrolment token through which the person sets a new one.
func (s *Service) ResetPassword(ctx context.Context, k AccountKey, actor string) (string, error) {
	if err := s.Store.SetPassword(ctx, k, "", ActionPasswordReset, actor, "", s.Now()); err != nil {
		return "", err
	}
	return s.IssueEnrolment(ctx, k, actor)
}

// ResetTOTP removes k's TOTP secret, ends its sessions and issues an
// enrolment token through which the person enrols a new one.
func (s *Service) ResetTOTP(ctx context.Context, k AccountKey, actor string) (string, error) {
	if err := s.Store.ResetTOTP(ctx, k, actor, s.Now()); err != nil {
		return "", err
	}
	return s.IssueEnrolment(ctx, k, actor)
}

// EnrolmentView is what the enrolment page needs.
type EnrolmentView struct {
	Account      *Account
	NeedPassword bool
	NeedTOTP     bool
	// Secret is the pending TOTP secret to show (only when NeedTOTP).
	Secret []byte
}

// EnrolmentErr is returned for an unknown, used or expired token, and for a
// disabled account.
var EnrolmentErr = errors.New("this enrolment link is not valid: it was used already, it expired, or a newer link replaced it; ask your administrator for a new one")

// OpenEnrolment returns what the enrolment for token still needs. A fresh
// TOTP secret is made (and kept sealed with the enrolment) whenever
// newSecret is true or none is pending, so reloading the page shows a
// new code rather than an old one someone might have seen.
func (s *Service) OpenEnrolment(ctx context.Context, token string, newSecret bool) (*EnrolmentView, error) {
	h := tokenHash(token)
	en, err := s.Store.Enrolment(ctx, h, s.Now())
	if errors.Is(err, ErrNotFound) {
		return nil, EnrolmentErr
	}
	if err != nil {
		return nil, err
	}
	a, err := s.Store.Account(ctx, en.AccountKey)
	if err != nil {
		return nil, err
	}
	if a.Status != StatusActive {
		return nil, EnrolmentErr
	}
	v := &EnrolmentView{Account: a, NeedPassword: a.PasswordHash == "", NeedTOTP: a.TOTPSealed == ""}
	if !v.NeedTOTP {
		return v, nil
	}
	if en.PendingTOTP != "" && !newSecret {
		v.Secret, err = s.Secrets.openTOTP(a.AccountKey, en.PendingTOTP)
		if err == nil {
			return v, nil
		}
	}
	v.Secret = newTOTPSecret()
	sealed, err := s.Secrets.sealTOTP(a.AccountKey, v.Secret)
	if err != nil {
		return nil, err
	}
	if err := s.Store.SetEnrolmentPending(ctx, h, sealed); err != nil {
		return nil, err
	}
	return v, nil
}

// FormError is a problem the person can fix on the form; its message is
// shown to them.
type FormError struct{ Problems []string }

func (e *FormError) Error() string { return fmt.Sprint(e.Problems) }

// CompleteEnrolment finishes an enrolment: newPassword (when the account
// has none; policy applied, confirm must match), the code for the pending
// TOTP secret (when it has none), and otherwise proof of the factor it
// still has: the current password for a TOTP reset, a current code for a
// password reset. A token is consumed only on success.
func (s *Service) CompleteEnrolment(ctx context.Context, token, newPassword, confirm, currentPassword, code string) (*Account, error) {
	v, err := s.OpenEnrolment(ctx, token, false)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	a := v.Account
	var problems []string
	var hash, sealed string
	var step int64
	if v.NeedPassword {
		if newPassword != confirm {
			problems = append(problems, "the two new passwords differ")
		} else if err := CheckPassword(newPassword, a.Email, s.Rules.MinPasswordBits); err != nil {
			var pe *PolicyError
			if errors.As(err, &pe) {
				problems = append(problems, pe.Problems...)
			} else {
				return nil, err
			}
		}
	} else if !s.Secrets.VerifyPassword(a.PasswordHash, currentPassword) {
		problems = append(problems, "the current password is wrong")
	}
	if v.NeedTOTP {
		var ok bool
		if step, ok = matchTOTP(v.Secret, code, now); !ok {
			problems = append(problems, "the code from your authenticator app does not match; check the app's clock and enter the current code")
		}
	} else {
		secret, err := s.Secrets.openTOTP(a.AccountKey, a.TOTPSealed)
		if err != nil {
			return nil, err
		}
		st, ok := matchTOTP(secret, code, now)
		if ok {
			ok, err = s.Store.UseTOTPStep(ctx, a.AccountKey, st)
			if err != nil {
				return nil, err
			}
		}
		if !ok {
			problems = append(problems, "the code from your authenticator app is wrong or was used already")
		}
	}
	if len(problems) > 0 {
		return nil, &FormError{Problems: problems}
	}
	if v.NeedPassword {
		if hash, err = s.Secrets.HashPassword(newPassword); err != nil {
			return nil, err
		}
	}
	if v.NeedTOTP {
		if sealed, err = s.Secrets.sealTOTP(a.AccountKey, v.Secret); err != nil {
			return nil, err
		}
	}
	if err := s.Store.CompleteEnrolment(ctx, tokenHash(token), hash, sealed, step, now); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, EnrolmentErr
		}
		return nil, err
	}
	return a, nil
}

// ChangePassword changes the password of the session's account, keeping
// that session and ending its others.
func (s *Service) ChangePassword(ctx context.Context, sessionID string, k AccountKey, current, newPassword, confirm string) error {
	a, err := s.Store.Account(ctx, k)
	if err != nil {
		return err
	}
	var problems []string
	if a.Status != StatusActive {
		return &FormError{Problems: []string{"this account is disabled"}}
	}
	if !s.Secrets.VerifyPassword(a.PasswordHash, current) {
		// Counts toward the lockout like a failed login, so a borrowed
		// session cannot be used to guess the password.
		locked, err := s.Store.RecordFailure(ctx, k, s.Rules.LockoutFailures, s.Rules.LockoutDuration, s.Now())
		if err != nil {
			return err
		}
		if locked {
			if _, err := s.Logout(ctx, sessionID); err != nil {
				return err
			}
		}
		problems = append(problems, "the current password is wrong")
	}
	if newPassword != confirm {
		problems = append(problems, "the two new passwords differ")
	} else if err := CheckPassword(newPassword, a.Email, s.Rules.MinPasswordBits); err != nil {
		var pe *PolicyError
		if !errors.As(err, &pe) {
			return err
		}
		problems = append(problems, pe.Problems...)
	}
	if newPassword == current && len(problems) == 0 {
		problems = append(problems, "the new password must differ from the current one")
	}
	if len(problems) > 0 {
		return &FormError{Problems: problems}
	}
	hash, err := s.Secrets.HashPassword(newPassword)
	if err != nil {
		return err
	}
	return s.Store.SetPassword(ctx, k, hash, ActionPasswordChanged, k.Email, tokenHash(sessionID), s.Now())
}
