package sim

import (
	"net/http"
	"strings"
	"sync"
	"time"
)

// Record is one request as it reached the registry surface, taken before
// the simulator answered it. GET /records on the control API returns a JSON
// array of them, oldest first.
type Record struct {
	// Seq numbers requests from 1 in the order they were recorded (once the
	// body had been read). It keeps counting across DELETE /records, so
	// ?since=SEQ stays meaningful.
	Seq int64 `json:"seq"`
	// Time is when the handler started on the request.
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	// RequestURI is the request target exactly as it was on the request
	// line: undecoded, with any ;params, dot segments and query intact.
	RequestURI string `json:"request_uri"`
	// Path, RawPath and Query are r.URL.Path (decoded), r.URL.RawPath (set
	// only when the encoding was not the default one) and r.URL.RawQuery.
	Path    string `json:"path"`
	RawPath string `json:"raw_path"`
	Query   string `json:"query"`
	Proto   string `json:"proto"`
	Host    string `json:"host"`
	// Headers are the request headers as Go's server parsed them: names
	// are canonicalised where Go canonicalises them ("X-Openhim-Clientid"),
	// and kept as sent where it does not ("X_openhim_clientid", which
	// contains an underscore). Go's server moves Host and Transfer-Encoding
	// out of the header map; see Host and TransferEncoding.
	Headers map[string][]string `json:"headers"`
	// ContentLength is the declared length, -1 when unknown (chunked).
	ContentLength    int64    `json:"content_length"`
	TransferEncoding []string `json:"transfer_encoding,omitempty"`
	// BodyBytes is how many body bytes arrived. When BodyError is set the
	// body was not read to its end and BodyBytes is a lower bound.
	BodyBytes int64 `json:"body_bytes"`
	// BodySHA256 is the hex SHA-256 of the body bytes that arrived.
	BodySHA256 string `json:"body_sha256"`
	// BodyError says why the body was not read completely: it was larger
	// than the simulator accepts (answered 413) or the stream broke
	// (answered 400).
	BodyError  string `json:"body_error,omitempty"`
	RemoteAddr string `json:"remote_addr"`
}

// HeaderValues returns the values of every recorded header whose name
// equals name ignoring case, so a test can ask for "x-openhim-clientid"
// without knowing how Go spelled it.
func (r *Record) HeaderValues(name string) []string {
	var vs []string
	for k, v := range r.Headers {
		if strings.EqualFold(k, name) {
			vs = append(vs, v...)
		}
	}
	return vs
}

// recorder keeps the most recent requests in a ring of at most max
// entries, because a benchmark left recording would otherwise grow without
// bound.
type recorder struct {
	mu      sync.Mutex
	max     int
	recs    []Record // grows to max, then wraps at head
	head    int      // index of the oldest record once len(recs) == max
	seq     int64
	dropped int64
}

func newRecorder(max int) *recorder { return &recorder{max: max} }

func (rc *recorder) add(rec Record) {
	rc.mu.Lock()
	rc.seq++
	rec.Seq = rc.seq
	if len(rc.recs) < rc.max {
		rc.recs = append(rc.recs, rec)
	} else {
		rc.recs[rc.head] = rec
		rc.head = (rc.head + 1) % rc.max
		rc.dropped++
	}
	rc.mu.Unlock()
}

// since returns the records with Seq > after, oldest first, together with
// the last sequence number handed out and how many records the ring has
// dropped.
func (rc *recorder) since(after int64) (recs []Record, lastSeq, dropped int64) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	recs = make([]Record, 0, len(rc.recs))
	for i := range rc.recs {
		r := rc.recs[(rc.head+i)%len(rc.recs)]
		if r.Seq > after {
			recs = append(recs, r)
		}
	}
	return recs, rc.seq, rc.dropped
}

func (rc *recorder) reset() {
	rc.mu.Lock()
	rc.recs = nil
	rc.head = 0
	rc.dropped = 0
	rc.mu.Unlock()
}

func newRecord(r *http.Request, at time.Time) Record {
	return Record{
		Time:             at,
		Method:           r.Method,
		RequestURI:       r.RequestURI,
		Path:             r.URL.Path,
		RawPath:          r.URL.RawPath,
		Query:            r.URL.RawQuery,
		Proto:            r.Proto,
		Host:             r.Host,
		Headers:          r.Header.Clone(),
		ContentLength:    r.ContentLength,
		TransferEncoding: append([]string(nil), r.TransferEncoding...),
		RemoteAddr:       r.RemoteAddr,
	}
}
