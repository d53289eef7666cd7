package fhirsink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/crgate/crgate/caddymodule/audit/auditsink"
	"github.com/crgate/crgate/internal/deadletter"
)

// maxResponseBytes bounds how much of a server's answer is read: a
// batch-response for 1000 entries with return=minimal is far smaller.
const maxResponseBytes = 16 << 20

// fhirID is the FHIR id datatype, with at least one letter or digit (the
// id goes into the entry's URL, where "." and ".." are path segments).
var fhirID = regexp.MustCompile(`^[A-Za-z0-9\-.]*[A-Za-z0-9][A-Za-z0-9\-.]*$`)

// now is the sink's clock; tests replace it.
var now = time.Now

// Deliver implements auditsink.Sink: events go out in Bundles of at most
// batch_size entries and max_bundle_bytes, in order. It returns how many
// of the leading events the server stored (or that were dead-lettered as
// invalid), and an error for the first that is neither.
func (s *Sink) Deliver(ctx context.Context, events []auditsink.Event) (int, error) {
	n := 0
	for n < len(events) {
		k, err := s.deliverBundle(ctx, events[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// deliverBundle sends one Bundle built from the head of events and returns
// how many of its leading entries are done with.
func (s *Sink) deliverBundle(ctx context.Context, events []auditsink.Event) (int, error) {
	// An event no Bundle can carry is dead-lettered before building one,
	// so it cannot hold up the events behind it.
	if reason := s.unsendable(events[0]); reason != "" {
		if err := s.deadLetter(events[0], "unsendable", reason); err != nil {
			return 0, err
		}
		return 1, nil
	}
	body, count := s.bundle(events)
	sent := events[:count]

	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.Timeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("fhir sink: %w", err)
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Accept", "application/fhir+json")
	// The entries' resources are not needed back, only their statuses.
	req.Header.Set("Prefer", "return=minimal")
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		bundlesTotal.WithLabelValues("transport_error").Inc()
		return 0, fmt.Errorf("fhir sink: POST %s: %w", s.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		bundlesTotal.WithLabelValues("transport_error").Inc()
		return 0, fmt.Errorf("fhir sink: reading the answer to a Bundle of %d: %w", count, err)
	}
	if resp.StatusCode == http.StatusRequestEntityTooLarge {
		return s.tooLarge(sent, raw)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The whole request failed (overload, outage, auth, a proxy's
		// error page): nothing is known to be stored, all is retried.
		bundlesTotal.WithLabelValues("http_error").Inc()
		return 0, fmt.Errorf("fhir sink: POST %s: %s%s", s.base, resp.Status, outcomeText(raw))
	}
	entries, err := parseBatchResponse(raw, count)
	if err != nil {
		bundlesTotal.WithLabelValues("bad_response").Inc()
		return 0, fmt.Errorf("fhir sink: POST %s: %s: %w", s.base, resp.Status, err)
	}
	return s.settle(sent, entries)
}

// settle walks the per-entry answers in order: stored (2xx) and invalid
// (dead-lettered) entries are done; the first other answer (429, 5xx, a
// 4xx that is not about the event's content) stops delivery there, and
// that entry and all behind it are retried.
func (s *Sink) settle(sent []auditsink.Event, entries []batchEntry) (int, error) {
	for i, e := range entries {
		code, ok := e.code()
		switch {
		case ok && code >= 200 && code <= 299:
			continue
		case ok && code == http.StatusConflict && s.Method == MethodPost:
			// A server that keeps client ids on create (e.g. Aidbox) says
			// the event's UUID is taken: it was stored by an earlier try.
			continue
		case ok && (code == http.StatusBadRequest || code == http.StatusUnprocessableEntity || code == http.StatusRequestEntityTooLarge):
			if err := s.deadLetter(sent[i], "rejected", e.Response.Status+outcomeText(e.Response.Outcome)); err != nil {
				bundlesTotal.WithLabelValues("partial").Inc()
				return i, err
			}
		default:
			bundlesTotal.WithLabelValues("partial").Inc()
			return i, fmt.Errorf("fhir sink: entry %d (AuditEvent/%s): status %q%s", i, sent[i].ID, e.Response.Status, outcomeText(e.Response.Outcome))
		}
	}
	bundlesTotal.WithLabelValues("ok").Inc()
	s.grow()
	return len(sent), nil
}

// tooLarge answers a 413 for the whole Bundle: with several entries the
// next Bundles are made smaller (halving down to one); a single event the
// server refuses by size is dead-lettered.
func (s *Sink) tooLarge(sent []auditsink.Event, raw []byte) (int, error) {
	bundlesTotal.WithLabelValues("http_error").Inc()
	if len(sent) == 1 {
		if err := s.deadLetter(sent[0], "too_large", "413 Request Entity Too Large"+outcomeText(raw)); err != nil {
			return 0, err
		}
		return 1, nil
	}
	limit := max(1, len(sent)/2)
	s.limit.Store(int64(limit))
	return 0, fmt.Errorf("fhir sink: POST %s: 413 for a Bundle of %d events; sending at most %d per Bundle", s.base, len(sent), limit)
}

// grow lets a limit shrunk by a 413 recover, doubling per accepted Bundle.
func (s *Sink) grow() {
	s.limit.Store(min(int64(s.BatchSize), s.limit.Load()*2))
}

// unsendable says why ev can never be carried by a Bundle, or "".
func (s *Sink) unsendable(ev auditsink.Event) string {
	switch {
	case len(ev.ID) > 64 || !fhirID.MatchString(ev.ID):
		return fmt.Sprintf("id %q is not a FHIR id", ev.ID)
	case !json.Valid(ev.JSON):
		return "the event is not valid JSON"
	case s.entrySize(ev)+len(bundlePrefix)+len(bundleSuffix) > s.MaxBundleBytes:
		return fmt.Sprintf("the event's %d bytes exceed max_bundle_bytes %d", len(ev.JSON), s.MaxBundleBytes)
	}
	return ""
}

const (
	bundlePrefix = `{"resourceType":"Bundle","type":"batch","entry":[`
	bundleSuffix = `]}`
	entryPrefix  = `{"resource":`
	entryPut     = `,"request":{"method":"PUT","url":"AuditEvent/`
	entryPutEnd  = `"}}`
	entryPost    = `,"request":{"method":"POST","url":"AuditEvent"}}`
)

// entrySize is the size of ev's Bundle entry.
func (s *Sink) entrySize(ev auditsink.Event) int {
	if s.Method == MethodPost {
		return len(entryPrefix) + len(ev.JSON) + len(entryPost)
	}
	return len(entryPrefix) + len(ev.JSON) + len(entryPut) + len(ev.ID) + len(entryPutEnd)
}

// appendEntry writes ev's Bundle entry.
func (s *Sink) appendEntry(b *bytes.Buffer, ev auditsink.Event) {
	b.WriteString(entryPrefix)
	b.Write(ev.JSON)
	if s.Method == MethodPost {
		b.WriteString(entryPost)
		return
	}
	b.WriteString(entryPut)
	b.WriteString(ev.ID)
	b.WriteString(entryPutEnd)
}

// bundle writes a batch Bundle of the leading events: at most the current
// limit, within max_bundle_bytes, stopping before any event that is
// unsendable (it will head the next Bundle and be dead-lettered there).
// events[0] is known to be sendable.
func (s *Sink) bundle(events []auditsink.Event) ([]byte, int) {
	limit := int(s.limit.Load())
	var b bytes.Buffer
	b.Grow(min(s.MaxBundleBytes, 64<<10))
	b.WriteString(bundlePrefix)
	count := 0
	for _, ev := range events {
		if count == limit {
			break
		}
		size := s.entrySize(ev)
		if count > 0 {
			size++ // comma
			if b.Len()+size+len(bundleSuffix) > s.MaxBundleBytes || s.unsendable(ev) != "" {
				break
			}
			b.WriteByte(',')
		}
		s.appendEntry(&b, ev)
		count++
	}
	b.WriteString(bundleSuffix)
	return b.Bytes(), count
}

// batchEntry is the part of a batch-response entry the sink reads.
type batchEntry struct {
	Response struct {
		Status  string          `json:"status"`
		Outcome json.RawMessage `json:"outcome"`
	} `json:"response"`
}

// code is the HTTP status code at the start of the entry's status.
func (e batchEntry) code() (int, bool) {
	st := strings.TrimSpace(e.Response.Status)
	if len(st) < 3 {
		return 0, false
	}
	c, err := strconv.Atoi(st[:3])
	if err != nil || (len(st) > 3 && st[3] != ' ') {
		return 0, false
	}
	return c, true
}

// parseBatchResponse reads a batch-response Bundle with one entry per
// entry sent (FHIR R4 http.html#transaction: same order).
func parseBatchResponse(raw []byte, sent int) ([]batchEntry, error) {
	var b struct {
		ResourceType string       `json:"resourceType"`
		Type         string       `json:"type"`
		Entry        []batchEntry `json:"entry"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("the answer is not a FHIR Bundle: %w", err)
	}
	if b.ResourceType != "Bundle" || b.Type != "batch-response" {
		return nil, fmt.Errorf("the answer is a %q of type %q, not a batch-response Bundle", b.ResourceType, b.Type)
	}
	if len(b.Entry) != sent {
		return nil, fmt.Errorf("the batch-response has %d entries for %d sent", len(b.Entry), sent)
	}
	return b.Entry, nil
}

// outcomeText is ": " and the diagnostics of an OperationOutcome (at most
// a few hundred bytes), or "" when raw is none. Only issue details are
// read, never echoed request content.
func outcomeText(raw []byte) string {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Severity    string `json:"severity"`
			Code        string `json:"code"`
			Diagnostics string `json:"diagnostics"`
			Details     struct {
				Text string `json:"text"`
			} `json:"details"`
			Expression []string `json:"expression"`
		} `json:"issue"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &oo) != nil || oo.ResourceType != "OperationOutcome" {
		return ""
	}
	var parts []string
	for _, is := range oo.Issue {
		msg := is.Details.Text
		if is.Diagnostics != "" {
			msg = strings.TrimSpace(msg + " " + is.Diagnostics)
		}
		if len(is.Expression) > 0 {
			msg += " (" + strings.Join(is.Expression, ", ") + ")"
		}
		parts = append(parts, strings.TrimSpace(is.Severity+" "+is.Code+": "+msg))
	}
	text := strings.Join(parts, "; ")
	if len(text) > 500 {
		text = text[:500] + "…"
	}
	if text == "" {
		return ""
	}
	return ": " + text
}

// deadLetter writes ev to the dead-letter file and says so loudly (error
// log, metric). An event is only passed over once it is on disk there.
func (s *Sink) deadLetter(ev auditsink.Event, kind, reason string) error {
	err := s.dead.Write(deadletter.Entry{
		Time: now().UTC(), Sink: "fhir", Target: s.base,
		Seq: ev.Seq, ID: ev.ID, Reason: reason, Event: deadletter.Event(ev.JSON),
	})
	if err != nil {
		return fmt.Errorf("fhir sink: event %s refused (%s) and not dead-lettered: %w", ev.ID, reason, err)
	}
	deadLettered.WithLabelValues(kind).Inc()
	s.logger.Error("audit event the FHIR server cannot take (refused or unsendable); written to the dead-letter file",
		zap.Uint64("seq", ev.Seq), zap.String("event_id", ev.ID), zap.String("reason", reason),
		zap.String("dead_letter", s.dead.Path()))
	return nil
}

// Interface guard
var _ auditsink.Sink = (*Sink)(nil)
