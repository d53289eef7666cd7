package audit

import (
	"encoding/binary"
	"errors"
	"time"
	"unsafe"

	"github.com/crgate/crgate/internal/auditrec"
)

// The spool stores records in a compact binary form of its own: encoding
// one costs a few hundred nanoseconds and no allocation on the request
// path, where building FHIR JSON would cost tens of microseconds. The FHIR
// AuditEvent is built from the decoded record by the delivery workers.
//
// A record is a version byte and then every field in a fixed order:
// strings as uvarint length + bytes, integers as (zigzag) varints.

const codecVersion = 1

// maxFieldLen bounds one decoded string, so a corrupted length cannot make
// the decoder allocate gigabytes.
const maxFieldLen = 1 << 20

var errCorrupt = errors.New("corrupt audit record")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendRecord appends rec's encoding to b.
func appendRecord(b []byte, rec *auditrec.Record) []byte {
	b = append(b, codecVersion, byte(rec.Kind))
	b = appendString(b, rec.ID)
	b = binary.AppendVarint(b, rec.Time.UnixNano())
	b = binary.AppendVarint(b, int64(rec.Duration))
	for _, s := range [...]string{
		rec.NodeID, rec.NodeName, rec.NodeFingerprint, rec.CertSubject,
		rec.UserID, rec.UserName, rec.UserRole, rec.Action, rec.Actor,
		rec.ClientIP,
	} {
		b = appendString(b, s)
	}
	b = binary.AppendVarint(b, int64(rec.ClientPort))
	for _, s := range [...]string{
		rec.Method, rec.URI, rec.Host, rec.Proto, rec.RequestID, rec.SearchBody, rec.TLSServerName,
	} {
		b = appendString(b, s)
	}
	f := &rec.FHIR
	if f.Valid {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	for _, s := range [...]string{f.Code, f.Base, f.ResourceType, f.ID, f.VersionID, f.Operation, f.Compartment} {
		b = appendString(b, s)
	}
	b = binary.AppendVarint(b, int64(rec.Status))
	b = binary.AppendVarint(b, rec.BytesOut)
	for _, s := range [...]string{rec.RefusalModule, rec.RefusalReason, rec.RefusalDetail, rec.Upstream, rec.Error} {
		b = appendString(b, s)
	}
	return b
}

// decoder reads what appendRecord wrote.
type decoder struct {
	b   []byte
	err error
	// shared makes string return strings that alias b instead of copies:
	// no allocation, but valid only while b's bytes are neither reused
	// nor changed.
	shared bool
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errCorrupt
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > maxFieldLen || n > uint64(len(d.b)) {
		d.err = errCorrupt
		return ""
	}
	var s string
	if d.shared {
		if n > 0 {
			s = unsafe.String(&d.b[0], n)
		}
	} else {
		s = string(d.b[:n])
	}
	d.b = d.b[n:]
	return s
}

// decodeRecord decodes one record written by appendRecord. rec owns its
// strings.
func decodeRecord(b []byte, rec *auditrec.Record) error {
	return decodeInto(&decoder{b: b}, rec)
}

// decodeRecordShared decodes like decodeRecord without allocating: rec's
// strings point into b, so rec is valid only as long as b is neither
// reused nor modified. The delivery loop uses it for a batch whose bytes
// it keeps until the sink's Deliver returns (auditsink.Event's contract).
func decodeRecordShared(b []byte, rec *auditrec.Record) error {
	return decodeInto(&decoder{b: b, shared: true}, rec)
}

func decodeInto(d *decoder, rec *auditrec.Record) error {
	if v := d.byte(); v != codecVersion {
		return errCorrupt
	}
	rec.Kind = auditrec.Kind(d.byte())
	rec.ID = d.string()
	rec.Time = time.Unix(0, d.varint()).UTC()
	rec.Duration = time.Duration(d.varint())
	for _, p := range [...]*string{
		&rec.NodeID, &rec.NodeName, &rec.NodeFingerprint, &rec.CertSubject,
		&rec.UserID, &rec.UserName, &rec.UserRole, &rec.Action, &rec.Actor,
		&rec.ClientIP,
	} {
		*p = d.string()
	}
	rec.ClientPort = int(d.varint())
	for _, p := range [...]*string{
		&rec.Method, &rec.URI, &rec.Host, &rec.Proto, &rec.RequestID, &rec.SearchBody, &rec.TLSServerName,
	} {
		*p = d.string()
	}
	f := &rec.FHIR
	f.Valid = d.byte() == 1
	for _, p := range [...]*string{&f.Code, &f.Base, &f.ResourceType, &f.ID, &f.VersionID, &f.Operation, &f.Compartment} {
		*p = d.string()
	}
	rec.Status = int(d.varint())
	rec.BytesOut = d.varint()
	for _, p := range [...]*string{&rec.RefusalModule, &rec.RefusalReason, &rec.RefusalDetail, &rec.Upstream, &rec.Error} {
		*p = d.string()
	}
	if d.err == nil && len(d.b) != 0 {
		return errCorrupt
	}
	return d.err
}
