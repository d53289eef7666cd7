package adminauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const testPassword = "cobalt tractor mango quiet"

// enrolled creates k and completes its enrolment; it returns the TOTP
// secret the person's app would hold.
func enrolled(t testing.TB, s *Service, k AccountKey) []byte {
	t.Helper()
	ctx := context.Background()
	tok, err := s.CreateAccount(ctx, k.Email, "Ann", k.Role, "cli:test")
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.OpenEnrolment(ctx, tok, false)
	if err != nil {
		t.Fatal(err)
	}
	if !v.NeedPassword || !v.NeedTOTP {
		t.Fatalf("new account needs password %v, totp %v", v.NeedPassword, v.NeedTOTP)
	}
	if _, err := s.CompleteEnrolment(ctx, tok, testPassword, testPassword, "", TOTPCode(v.Secret, s.Now())); err != nil {
		t.Fatal(err)
	}
	return v.Secret
}

// enrolledAnn is the common start: a service on st with a fake clock and
// ann's user account enrolled, the clock a minute past enrolment.
func enrolledAnn(t *testing.T, st Store) (context.Context, *fakeClock, *Service, AccountKey, []byte) {
	t.Helper()
	c := newClock()
	s := testService(t, st, c)
	ann := AccountKey{Email: "ann@example.org", Role: RoleUser}
	secret := enrolled(t, s, ann)
	c.add(time.Minute)
	return context.Background(), c, s, ann, secret
}

func loginReason(err error) string {
	var lf *LoginFailure
	if errors.As(err, &lf) {
		return lf.Reason
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return "ok"
}

func TestLoginFlow(t *testing.T) {
	forEachStore(t, func(t *testing.T, st Store) {
		ctx := context.Background()
		c := newClock()
		s := testService(t, st, c)
		ann := AccountKey{Email: "ann@example.org", Role: RoleUser}
		secret := enrolled(t, s, ann)
		c.add(31 * time.Second) // the enrolment used the current step

		// Wrong password, wrong code, unknown account, wrong role: one
		// LoginFailure each, never a session.
		for _, tc := range []struct {
			name           string
			k              AccountKey
			password, code string
			want           string
		}{
			{"fail/wrong-password", ann, "nope nope nope nope", TOTPCode(secret, c.t), ReasonBadPassword},
			{"fail/unknown-account", AccountKey{"bob@example.org", RoleUser}, testPassword, TOTPCode(secret, c.t), ReasonUnknown},
			{"fail/other-role-profile", AccountKey{"ann@example.org", RoleAdmin}, testPassword, TOTPCode(secret, c.t), ReasonUnknown},
		} {
			if _, err := s.Login(ctx, tc.k, tc.password, tc.code, "127.0.0.9"); loginReason(err) != tc.want {
				t.Errorf("%s: got %s, want %s", tc.name, loginReason(err), tc.want)
			}
		}
		// relogin logs ann in a minute later (a fresh code).
		relogin := func() *LoginResult {
			t.Helper()
			c.add(time.Minute)
			res, err := s.Login(ctx, ann, testPassword, TOTPCode(secret, c.t), "127.0.0.9")
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			return res
		}
		// expect checks the session's state.
		expect := func(res *LoginResult, want, when string) {
			t.Helper()
			if _, end, err := s.CheckSession(ctx, res.SessionID); end != want || err != nil {
				t.Fatalf("%s: %q (%v), want %q", when, end, err, want)
			}
		}
		c.add(-time.Minute)
		res := relogin()
		if len(res.SessionID) != 43 { // 32 bytes, base64url
			t.Fatalf("session id %q is not 256 bits", res.SessionID)
		}
		// The store holds only the hash of the session id.
		if _, err := st.Session(ctx, res.SessionID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("session found by its raw id: %v", err)
		}
		// The same code again (replay within its window) is refused, and
		// a failed login does not disturb the open session.
		if _, err := s.Login(ctx, ann, testPassword, TOTPCode(secret, c.t), "127.0.0.9"); loginReason(err) != ReasonReusedCode {
			t.Fatalf("replayed code: %s", loginReason(err))
		}
		expect(res, EndNone, "after a failed login")
		// Idle: alive 29 minutes after the last use, ended at 30.
		c.add(29 * time.Minute)
		expect(res, EndNone, "after 29m idle")
		c.add(29 * time.Minute)
		expect(res, EndNone, "29m after the last use")
		c.add(30 * time.Minute)
		expect(res, EndIdle, "after 30m idle")
		expect(res, EndMissing, "ended session came back")

		// Absolute lifetime: used every 20 minutes, still ends at 8 h.
		res = relogin()
		for i := 0; i < 23; i++ {
			c.add(20 * time.Minute)
			expect(res, EndNone, fmt.Sprintf("at %d×20m", i+1))
		}
		c.add(20 * time.Minute)
		expect(res, EndLifetime, "after 8h")

		// Logout ends the session server-side.
		res = relogin()
		if ok, err := s.Logout(ctx, res.SessionID); !ok || err != nil {
			t.Fatalf("logout: %v %v", ok, err)
		}
		expect(res, EndMissing, "after logout")

		// Disabling ends sessions and refuses login even with every factor right.
		res = relogin()
		if changed, err := st.SetStatus(ctx, ann, StatusDisabled, "cli:test", c.t); !changed || err != nil {
			t.Fatal(changed, err)
		}
		expect(res, EndMissing, "disabled account's session")
		c.add(time.Minute)
		if _, err := s.Login(ctx, ann, testPassword, TOTPCode(secret, c.t), "127.0.0.9"); loginReason(err) != ReasonDisabled {
			t.Fatalf("disabled login: %s", loginReason(err))
		}
	})
}

func TestLockout(t *testing.T) {
	forEachStore(t, func(t *testing.T, st Store) {
		ctx, c, s, ann, secret := enrolledAnn(t, st)
		wrong := func() string {
			code := TOTPCode(secret, c.t)
			return string('0'+(code[0]-'0'+1)%10) + code[1:]
		}
		// Any wrong factor counts: code, password, code.
		for i, try := range []struct{ pw, code string }{{testPassword, wrong()}, {"wrong wrong wrong 1", TOTPCode(secret, c.t)}, {testPassword, wrong()}} {
			want := ReasonBadCode
			if i == 1 {
				want = ReasonBadPassword
			}
			if i == 2 {
				want = ReasonNowLocked
			}
			if _, err := s.Login(ctx, ann, try.pw, try.code, "127.0.0.1"); loginReason(err) != want {
				t.Fatalf("attempt %d: %s, want %s", i+1, loginReason(err), want)
			}
		}
		// Locked: the right factors are refused for an hour, with no hint.
		c.add(59 * time.Minute)
		if _, err := s.Login(ctx, ann, testPassword, TOTPCode(secret, c.t), "127.0.0.1"); loginReason(err) != ReasonLocked {
			t.Fatalf("while locked: %s", loginReason(err))
		}
		c.add(61 * time.Second)
		if _, err := s.Login(ctx, ann, testPassword, TOTPCode(secret, c.t), "127.0.0.1"); err != nil {
			t.Fatalf("after the lock: %v", err)
		}
		// The counter restarted: two failures do not lock again.
		c.add(time.Minute)
		for range 2 {
			_, _ = s.Login(ctx, ann, testPassword, wrong(), "127.0.0.1")
		}
		if a, _ := st.Account(ctx, ann); !a.LockedUntil.Before(c.t) {
			t.Fatalf("locked after 2 failures: %v", a.LockedUntil)
		}
		h, err := st.History(ctx, ann.Email)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range h {
			actions = append(actions, e.Action)
		}
		if got := strings.Join(actions, ","); got != "created,enrolment_issued,password_set,totp_enrolled,locked" {
			t.Fatalf("history %s", got)
		}
	})
}

func TestAddressThrottle(t *testing.T) {
	forEachStore(t, func(t *testing.T, st Store) {
		ctx, c, s, ann, secret := enrolledAnn(t, st)
		s.Rules.AddrFailures = 5
		s.Rules.AddrWindow = 10 * time.Minute
		// Spraying many accounts from one address: after 5 failures the
		// address is refused even for a correct login; another address is not.
		for i := range 5 {
			k := AccountKey{Email: "nobody" + string(rune('a'+i)) + "@example.org", Role: RoleUser}
			_, _ = s.Login(ctx, k, testPassword, "000000", "127.0.0.66")
		}
		if _, err := s.Login(ctx, ann, testPassword, TOTPCode(secret, c.t), "127.0.0.66"); loginReason(err) != ReasonThrottled {
			t.Fatalf("throttled address: %s", loginReason(err))
		}
		if _, err := s.Login(ctx, ann, testPassword, TOTPCode(secret, c.t), "127.0.0.67"); err != nil {
			t.Fatalf("other address: %v", err)
		}
		c.add(11 * time.Minute)
		if _, err := s.Login(ctx, ann, testPassword, TOTPCode(secret, c.t), "127.0.0.66"); err != nil {
			t.Fatalf("after the window: %v", err)
		}
	})
}

func TestEnrolmentLinks(t *testing.T) {
	forEachStore(t, func(t *testing.T, st Store) {
		ctx := context.Background()
		c := newClock()
		s := testService(t, st, c)
		tok, err := s.CreateAccount(ctx, "Ann@Example.org", "Ann", RoleAdmin, "cli:test")
		if err != nil {
			t.Fatal(err)
		}
		k := AccountKey{Email: "ann@example.org", Role: RoleAdmin}
		// Same email, other role: a separate account.
		if _, err := s.CreateAccount(ctx, "ann@example.org", "Ann", RoleUser, "cli:test"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateAccount(ctx, "ann@example.org", "Ann", RoleUser, "cli:test"); !errors.Is(err, ErrExists) {
			t.Fatalf("duplicate: %v", err)
		}
		v1, err := s.OpenEnrolment(ctx, tok, false)
		if err != nil {
			t.Fatal(err)
		}
		// Reloading shows the same pending secret; only the token's holder sees it.
		v2, _ := s.OpenEnrolment(ctx, tok, false)
		if string(v1.Secret) != string(v2.Secret) {
			t.Fatal("pending secret changed on reload")
		}
		// Policy failure and wrong code: told what to fix, token not used up.
		_, err = s.CompleteEnrolment(ctx, tok, "ann@example.org1", "ann@example.org1", "", "123456")
		var fe *FormError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "email") || !strings.Contains(err.Error(), "authenticator") {
			t.Fatalf("bad enrolment: %v", err)
		}
		if _, err := s.CompleteEnrolment(ctx, tok, testPassword, testPassword+"x", "", TOTPCode(v1.Secret, c.t)); !strings.Contains(fmt.Sprint(err), "differ") {
			t.Fatalf("mismatch: %v", err)
		}
		if _, err := s.CompleteEnrolment(ctx, tok, testPassword, testPassword, "", TOTPCode(v1.Secret, c.t)); err != nil {
			t.Fatal(err)
		}
		// Single use.
		if _, err := s.OpenEnrolment(ctx, tok, false); !errors.Is(err, EnrolmentErr) {
			t.Fatalf("reused link: %v", err)
		}
		a, _ := st.Account(ctx, k)
		if !a.Enrolled() || strings.Contains(a.TOTPSealed, totpSecretText(v1.Secret)) {
			t.Fatalf("account after enrolment: %+v", a)
		}
		// The secret is sealed to its row: moved to the other profile it does not open.
		if _, err := s.Secrets.openTOTP(AccountKey{Email: k.Email, Role: RoleUser}, a.TOTPSealed); err == nil {
			t.Fatal("sealed secret opened for another account")
		}

		// Password reset: link + current code; the old password stops working.
		c.add(time.Minute)
		tok2, err := s.ResetPassword(ctx, k, "cli:test")
		if err != nil {
			t.Fatal(err)
		}
		v3, err := s.OpenEnrolment(ctx, tok2, false)
		if err != nil || !v3.NeedPassword || v3.NeedTOTP {
			t.Fatalf("reset view: %+v %v", v3, err)
		}
		if _, err := s.CompleteEnrolment(ctx, tok2, "violet engine harbour 9", "violet engine harbour 9", "", "000000"); err == nil {
			t.Fatal("password reset completed without the current code")
		}
		if _, err := s.CompleteEnrolment(ctx, tok2, "violet engine harbour 9", "violet engine harbour 9", "", TOTPCode(v1.Secret, c.t)); err != nil {
			t.Fatal(err)
		}
		// TOTP reset: link + current password.
		c.add(time.Minute)
		tok3, _ := s.ResetTOTP(ctx, k, "cli:test")
		v4, err := s.OpenEnrolment(ctx, tok3, false)
		if err != nil || v4.NeedPassword || !v4.NeedTOTP {
			t.Fatalf("totp reset view: %+v %v", v4, err)
		}
		if _, err := s.CompleteEnrolment(ctx, tok3, "", "", testPassword, TOTPCode(v4.Secret, c.t)); err == nil {
			t.Fatal("totp reset completed with the old password")
		}
		if _, err := s.CompleteEnrolment(ctx, tok3, "", "", "violet engine harbour 9", TOTPCode(v4.Secret, c.t)); err != nil {
			t.Fatal(err)
		}
		// Expiry: 24 h.
		tok4, _ := s.IssueEnrolment(ctx, k, "cli:test")
		c.add(24 * time.Hour)
		if _, err := s.OpenEnrolment(ctx, tok4, false); !errors.Is(err, EnrolmentErr) {
			t.Fatalf("expired link: %v", err)
		}
		// A newer link replaces an older one.
		tok5, _ := s.IssueEnrolment(ctx, k, "cli:test")
		tok6, _ := s.IssueEnrolment(ctx, k, "cli:test")
		if _, err := s.OpenEnrolment(ctx, tok5, false); !errors.Is(err, EnrolmentErr) {
			t.Fatalf("replaced link: %v", err)
		}
		if _, err := s.OpenEnrolment(ctx, tok6, false); err != nil {
			t.Fatal(err)
		}
		// History: who, what, never a secret.
		h, _ := st.History(ctx, k.Email)
		for _, e := range h {
			for _, secret := range []string{testPassword, "violet engine", tok, tok2, tok3, totpSecretText(v1.Secret)} {
				if strings.Contains(e.Detail+e.Actor+e.Action, secret) {
					t.Fatalf("history row %+v holds a secret", e)
				}
			}
		}
		// Emission claims: a row is claimed once.
		rows, _ := st.Unemitted(ctx, 100)
		if len(rows) != len(h) {
			t.Fatalf("unemitted %d, history %d", len(rows), len(h))
		}
		if ok, _ := st.Claim(ctx, rows[0].Seq); !ok {
			t.Fatal("claim")
		}
		if ok, _ := st.Claim(ctx, rows[0].Seq); ok {
			t.Fatal("claimed twice")
		}
	})
}

func TestChangePassword(t *testing.T) {
	forEachStore(t, func(t *testing.T, st Store) {
		ctx, c, s, ann, secret := enrolledAnn(t, st)
		r1, _ := s.Login(ctx, ann, testPassword, TOTPCode(secret, c.t), "127.0.0.1")
		c.add(time.Minute)
		r2, err := s.Login(ctx, ann, testPassword, TOTPCode(secret, c.t), "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ChangePassword(ctx, r1.SessionID, ann, "wrong", "violet engine harbour 9", "violet engine harbour 9"); !strings.Contains(fmt.Sprint(err), "current password is wrong") {
			t.Fatalf("wrong current: %v", err)
		}
		if err := s.ChangePassword(ctx, r1.SessionID, ann, testPassword, "password123", "password123"); !strings.Contains(fmt.Sprint(err), "harder to guess") {
			t.Fatalf("weak: %v", err)
		}
		if err := s.ChangePassword(ctx, r1.SessionID, ann, testPassword, "violet engine harbour 9", "violet engine harbour 9"); err != nil {
			t.Fatal(err)
		}
		// This session stays, the other ends.
		if _, end, _ := s.CheckSession(ctx, r1.SessionID); end != EndNone {
			t.Fatalf("own session: %s", end)
		}
		if _, end, _ := s.CheckSession(ctx, r2.SessionID); end != EndMissing {
			t.Fatalf("other session: %s", end)
		}
		c.add(time.Minute)
		if _, err := s.Login(ctx, ann, testPassword, TOTPCode(secret, c.t), "127.0.0.1"); loginReason(err) != ReasonBadPassword {
			t.Fatalf("old password: %s", loginReason(err))
		}
	})
}
