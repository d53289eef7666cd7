package adminauth

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/crgate/crgate/internal/auditrec"
)

// recordLogin sends a login attempt to the audit app (DICOM 110114 / 110122);
// reason is empty on success. With no audit app configured nothing is
// recorded. An error means the pipeline refused the record, and the
// caller must not let the login through.
func (h *Handler) recordLogin(r *http.Request, k AccountKey, name, reason string) error {
	if h.recorder == nil {
		return nil
	}
	rec := h.baseRecord(r, auditrec.KindUserLogin)
	rec.UserID, rec.UserName, rec.UserRole = k.Email, name, string(k.Role)
	rec.Action = "login"
	rec.Status = http.StatusSeeOther
	if reason != "" {
		rec.Action = "login_failed"
		rec.Status = http.StatusUnauthorized
		rec.RefusalModule, rec.RefusalReason = "admin_login", reason
	}
	return h.recorder.Record(rec)
}

// recordLogout records a session's end: "logout", or the reason it
// expired (idle_timeout, max_lifetime, account_disabled).
func (h *Handler) recordLogout(r *http.Request, ss *Session, how string) {
	sessionsEnded.WithLabelValues(how).Inc()
	if h.recorder == nil || ss == nil {
		return
	}
	rec := h.baseRecord(r, auditrec.KindUserLogout)
	rec.UserID, rec.UserName, rec.UserRole = ss.Email, ss.Name, string(ss.Role)
	rec.Action = how
	if err := h.recorder.Record(rec); err != nil {
		h.logger.Error("audit record refused", zap.String("kind", "user_logout"), zap.String("user", ss.Email), zap.Error(err))
	}
}

func (h *Handler) baseRecord(r *http.Request, kind auditrec.Kind) *auditrec.Record {
	rec := &auditrec.Record{Kind: kind, ID: uuid.NewString(), Time: time.Now(), ClientIP: clientIP(r),
		Method: r.Method, URI: r.URL.Path, Host: r.Host, Proto: r.Proto, RequestID: r.Header.Get("X-Request-Id")}
	if r.TLS != nil {
		rec.TLSServerName = r.TLS.ServerName
	}
	return rec
}

// kickEmitter asks the emitter to look for new history now.
func (h *Handler) kickEmitter() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// housekeeping sends account history rows not yet sent to the audit app
// (whoever wrote them: this gateway, another, or `crgate users`), and
// purges expired sessions and links. A row is claimed in the store before
// it is recorded, so gateways sharing a store send each row once.
func (h *Handler) housekeeping(ctx context.Context) {
	defer h.wg.Done()
	tick := time.NewTicker(time.Duration(h.HistoryInterval))
	defer tick.Stop()
	lastPurge := time.Time{}
	for {
		if h.recorder != nil {
			h.emitHistory(ctx)
		}
		if time.Since(lastPurge) > time.Minute {
			lastPurge = time.Now()
			if err := h.svc.Store.PurgeExpired(ctx, h.svc.Now(), h.svc.Rules.IdleTimeout); err != nil && ctx.Err() == nil {
				h.logger.Warn("purging expired sessions", zap.Error(err))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-h.kick:
		}
	}
}

func (h *Handler) emitHistory(ctx context.Context) {
	rows, err := h.svc.Store.Unemitted(ctx, 100)
	if err != nil {
		if ctx.Err() == nil {
			h.logger.Warn("reading account history", zap.Error(err))
		}
		return
	}
	for _, e := range rows {
		ok, err := h.svc.Store.Claim(ctx, e.Seq)
		if err != nil || !ok {
			continue
		}
		// The row's detail (status change, lock expiry) stays in the
		// history: the record has no field for it, and its Refusal fields
		// would mark the change as refused.
		rec := &auditrec.Record{Kind: auditrec.KindUserAccountChange, ID: uuid.NewString(), Time: e.At,
			UserID: e.Email, UserRole: string(e.Role), Action: e.Action, Actor: e.Actor}
		if err := h.recorder.Record(rec); err != nil {
			_ = h.svc.Store.Unclaim(ctx, e.Seq)
			h.logger.Warn("audit record refused; will retry", zap.Int64("history_seq", e.Seq), zap.Error(err))
			return
		}
	}
}
