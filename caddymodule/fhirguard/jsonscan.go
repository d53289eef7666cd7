package fhirguard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/crgate/crgate/internal/fhirreq"
	"github.com/crgate/crgate/internal/scope"
)

// bundle is what fhir_guard reads of a batch or transaction Bundle: the
// type and each entry's request. Everything else passes untouched.
type bundle struct {
	resourceType string
	typ          string
	entries      []bundleEntry
}

// bundleEntry is one entry's judged members. A member absent or null reads
// as "" (as encoding/json would leave it).
type bundleEntry struct {
	resourceType string // entry.resource.resourceType
	hasRequest   bool   // entry.request is an object
	method       string
	url          string
	ifNoneExist  string // entry.request.ifNoneExist: a conditional create's search
	// data and contentType are a Binary resource's: a PATCH entry's
	// patch document, base64-encoded.
	data, contentType string
}

// judgedKeys are the member names fhir_guard reads. encoding/json matches
// member names ignoring case and keeps the last duplicate; FHIR parsers
// are case-sensitive and may keep the first. A Bundle spelling one of
// these names in another case, or repeating any member, could be read
// one way here and another way upstream, so it is refused.
var judgedKeys = []string{"resourceType", "type", "entry", "resource", "request", "method", "url", "ifNoneExist", "data", "contentType"}

// maxJSONDepth is how deeply arrays and objects may nest.
const maxJSONDepth = 64

// pairwiseKeys is how many members an object may have before duplicates
// are looked up in a map instead of compared pairwise.
const pairwiseKeys = 24

// where says which judged member a value is, so the scanner knows what to
// keep and which type to require.
type where uint8

const (
	atOther        where = iota // not judged: validated and skipped
	atTop                       // the Bundle
	atEntries                   // Bundle.entry
	atEntry                     // Bundle.entry[i]
	atResource                  // Bundle.entry[i].resource
	atRequest                   // Bundle.entry[i].request
	atBundleRT                  // Bundle.resourceType
	atBundleType                // Bundle.type
	atResourceRT                // Bundle.entry[i].resource.resourceType
	atMethod                    // Bundle.entry[i].request.method
	atURL                       // Bundle.entry[i].request.url
	atIfNoneExist               // Bundle.entry[i].request.ifNoneExist
	atResourceData              // Bundle.entry[i].resource.data (a Binary's)
	atResourceCT                // Bundle.entry[i].resource.contentType (a Binary's)
	atDoc                       // a write body: a resource or a JSON Patch
	atDocRT                     // the write body's resourceType
)

// keyRef is one member name of an open object, folded, in scanner.fold,
// with a hash of it to compare names quickly.
type keyRef struct {
	off, end int
	hash     uint64
}

// objFrame is an open object: where its member names start in
// scanner.keys, and, once it has many, a set of them.
type objFrame struct {
	keys int
	set  map[string]struct{}
}

// bundleScanner reads a Bundle in one pass over the body: it validates the
// document strictly (RFC 8259, plus the refusals below), refuses duplicate
// and mis-spelled members, and keeps the judged members. Strings are read
// in place; only those with escapes are decoded, into scratch. It is
// pooled: a scan allocates only for the entries' urls and for objects with
// more than pairwiseKeys members.
type bundleScanner struct {
	data    []byte
	pos     int
	depth   int
	b       bundle
	frames  []objFrame
	keys    []keyRef
	fold    []byte // folded member names of the open objects
	scratch []byte // a decoded string with escapes
	// matchURLs are the string values, anywhere but a judged member, that
	// the registry would read as a conditional reference (matchURL).
	matchURLs []string
}

var scannerPool = sync.Pool{New: func() any { return new(bundleScanner) }}

// errJSON is a syntax error at an offset.
type errJSON struct {
	off int
	msg string
}

func (e *errJSON) Error() string { return e.msg + " at offset " + strconv.Itoa(e.off) }

// errNotBundle marks a document that is valid JSON but has a judged member
// of the wrong type (what encoding/json reports as an UnmarshalTypeError).
var errNotBundle = errors.New("a judged member has the wrong JSON type")

// scanBundle reads body as a Bundle. The result is valid until the scanner
// goes back to the pool (release).
func scanBundle(body []byte) (*bundleScanner, error) {
	return scan(body, atTop)
}

// scanResource reads body as any JSON document (a resource, a JSON
// Patch, Parameters) as strictly as a Bundle, for its match URLs.
func scanResource(body []byte) (*bundleScanner, error) {
	return scan(body, atDoc)
}

func scan(body []byte, top where) (*bundleScanner, error) {
	s := scannerPool.Get().(*bundleScanner)
	s.reset(body)
	if !utf8.Valid(body) {
		return s, errors.New("the body is not valid UTF-8")
	}
	s.space()
	if err := s.value(top); err != nil {
		return s, err
	}
	s.space()
	if s.pos != len(s.data) {
		return s, s.syntax("data after the top-level value")
	}
	return s, nil
}

func (s *bundleScanner) reset(body []byte) {
	s.data, s.pos, s.depth = body, 0, 0
	clear(s.b.entries)
	s.b = bundle{entries: s.b.entries[:0]}
	clear(s.frames)
	s.frames, s.keys, s.fold, s.scratch = s.frames[:0], s.keys[:0], s.fold[:0], s.scratch[:0]
	clear(s.matchURLs)
	s.matchURLs = s.matchURLs[:0]
}

// release puts the scanner back in the pool, dropping its references to the
// body; big buffers are left to the collector.
func (s *bundleScanner) release() {
	s.reset(nil)
	if cap(s.b.entries) > 1<<14 || cap(s.fold) > 1<<16 || cap(s.scratch) > 1<<16 {
		return
	}
	scannerPool.Put(s)
}

func (s *bundleScanner) syntax(msg string) error { return &errJSON{off: s.pos, msg: msg} }

func (s *bundleScanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value reads one JSON value at s.pos; w says which judged member it is.
func (s *bundleScanner) value(w where) error {
	if s.pos >= len(s.data) {
		return s.syntax("unexpected end of JSON")
	}
	c := s.data[s.pos]
	switch c {
	case '{':
		switch w {
		case atOther, atTop, atEntry, atResource, atRequest, atDoc:
		default:
			return errNotBundle
		}
		switch w {
		case atEntry:
			s.b.entries = append(s.b.entries, bundleEntry{})
		case atRequest:
			s.b.entries[len(s.b.entries)-1].hasRequest = true
		}
		return s.object(w)
	case '[':
		if w != atOther && w != atEntries && w != atDoc {
			return errNotBundle
		}
		return s.array(w)
	case '"':
		start := s.pos
		str, err := s.str(w != atOther)
		if err != nil {
			return err
		}
		if w == atOther {
			return s.watchMatchURL(start)
		}
		return s.keep(w, str)
	case 'n':
		if w == atEntry {
			// A null entry reads as an entry without a request.
			s.b.entries = append(s.b.entries, bundleEntry{})
		}
		return s.literal("null")
	case 't':
		if err := s.literal("true"); err != nil {
			return err
		}
	case 'f':
		if err := s.literal("false"); err != nil {
			return err
		}
	default:
		if err := s.number(); err != nil {
			return err
		}
	}
	if w != atOther {
		return errNotBundle
	}
	return nil
}

func (s *bundleScanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return s.syntax("invalid literal")
	}
	s.pos += len(lit)
	return nil
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *bundleScanner) number() error {
	d, p := s.data, s.pos
	if p < len(d) && d[p] == '-' {
		p++
	}
	switch {
	case p < len(d) && d[p] == '0':
		p++
	case p < len(d) && d[p] >= '1' && d[p] <= '9':
		for p++; p < len(d) && isDigit(d[p]); p++ {
		}
	default:
		return s.syntax("invalid character")
	}
	if p < len(d) && d[p] == '.' {
		p++
		if p >= len(d) || !isDigit(d[p]) {
			s.pos = p
			return s.syntax("invalid number")
		}
		for ; p < len(d) && isDigit(d[p]); p++ {
		}
	}
	if p < len(d) && (d[p] == 'e' || d[p] == 'E') {
		p++
		if p < len(d) && (d[p] == '+' || d[p] == '-') {
			p++
		}
		if p >= len(d) || !isDigit(d[p]) {
			s.pos = p
			return s.syntax("invalid number")
		}
		for ; p < len(d) && isDigit(d[p]); p++ {
		}
	}
	s.pos = p
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (s *bundleScanner) open() error {
	if s.depth >= maxJSONDepth {
		return s.syntax(fmt.Sprintf("nested deeper than %d", maxJSONDepth))
	}
	s.depth++
	s.pos++
	s.space()
	return nil
}

func (s *bundleScanner) array(w where) error {
	if err := s.open(); err != nil {
		return err
	}
	elem := atOther
	if w == atEntries {
		elem = atEntry
	}
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		if err := s.value(elem); err != nil {
			return err
		}
		if closed, err := s.afterValue(']'); closed || err != nil {
			s.depth--
			return err
		}
	}
}

// afterValue reads what follows an element or member: ',' (another
// follows) or end (the container closes, reported as closed).
func (s *bundleScanner) afterValue(end byte) (closed bool, err error) {
	s.space()
	if s.pos >= len(s.data) {
		return false, s.syntax("unexpected end of JSON")
	}
	switch s.data[s.pos] {
	case ',':
		s.pos++
		s.space()
		return false, nil
	case end:
		s.pos++
		return true, nil
	}
	return false, s.syntax("expected ',' or '" + string(end) + "'")
}

func (s *bundleScanner) object(w where) error {
	if err := s.open(); err != nil {
		return err
	}
	s.frames = append(s.frames, objFrame{keys: len(s.keys)})
	foldStart := len(s.fold)
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return s.closeObject(foldStart)
	}
	for {
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.syntax("expected a member name")
		}
		key, err := s.str(true)
		if err != nil {
			return err
		}
		if err := s.member(key); err != nil {
			return err
		}
		s.space()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.syntax("expected ':'")
		}
		s.pos++
		s.space()
		if err := s.value(child(w, key)); err != nil {
			return err
		}
		closed, err := s.afterValue('}')
		if err != nil {
			return err
		}
		if closed {
			return s.closeObject(foldStart)
		}
	}
}

func (s *bundleScanner) closeObject(foldStart int) error {
	f := &s.frames[len(s.frames)-1]
	s.keys = s.keys[:f.keys]
	f.set = nil
	s.frames = s.frames[:len(s.frames)-1]
	s.fold = s.fold[:foldStart]
	s.depth--
	return nil
}

// child says which judged member the value of member key of an object at
// w is. Only exact spellings count: other spellings were refused by member.
func child(w where, key []byte) where {
	switch w {
	case atTop:
		switch string(key) {
		case "resourceType":
			return atBundleRT
		case "type":
			return atBundleType
		case "entry":
			return atEntries
		}
	case atEntry:
		switch string(key) {
		case "resource":
			return atResource
		case "request":
			return atRequest
		}
	case atResource:
		switch string(key) {
		case "resourceType":
			return atResourceRT
		case "data":
			return atResourceData
		case "contentType":
			return atResourceCT
		}
	case atDoc:
		if string(key) == "resourceType" {
			return atDocRT
		}
	case atRequest:
		switch string(key) {
		case "method":
			return atMethod
		case "url":
			return atURL
		case "ifNoneExist":
			return atIfNoneExist
		}
	}
	return atOther
}

// member records a member name of the innermost open object, refusing a
// duplicate (ignoring case) and another spelling of a judged name.
func (s *bundleScanner) member(key []byte) error {
	start := len(s.fold)
	h := uint64(14695981039346656037) // FNV-1a of the folded name
	for _, c := range key {
		if c >= utf8.RuneSelf {
			// Non-ASCII: fold rune by rune from the start.
			s.fold = appendFolded(s.fold[:start], key)
			h = 14695981039346656037
			for _, c := range s.fold[start:] {
				h = (h ^ uint64(c)) * 1099511628211
			}
			break
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		s.fold = append(s.fold, c)
		h = (h ^ uint64(c)) * 1099511628211
	}
	folded := s.fold[start:]
	if exact := judgedSpelling(folded); exact != "" && exact != string(key) {
		return fmt.Errorf("member %q must be spelled %q", key, exact)
	}
	f := &s.frames[len(s.frames)-1]
	if f.set != nil {
		if _, dup := f.set[string(folded)]; dup {
			return fmt.Errorf("member %q appears more than once (ignoring case)", key)
		}
		f.set[string(folded)] = struct{}{}
	} else {
		for _, k := range s.keys[f.keys:] {
			if k.hash == h && string(s.fold[k.off:k.end]) == string(folded) {
				return fmt.Errorf("member %q appears more than once (ignoring case)", key)
			}
		}
		if len(s.keys)-f.keys >= pairwiseKeys {
			f.set = make(map[string]struct{}, 2*pairwiseKeys)
			for _, k := range s.keys[f.keys:] {
				f.set[string(s.fold[k.off:k.end])] = struct{}{}
			}
			f.set[string(folded)] = struct{}{}
		}
	}
	s.keys = append(s.keys, keyRef{off: start, end: len(s.fold), hash: h})
	return nil
}

// judgedSpelling returns the one accepted spelling of a judged member name
// given folded, or "" if folded is no judged name. TestJudgedSpelling
// checks it against judgedKeys.
func judgedSpelling(folded []byte) string {
	switch string(folded) {
	case "resourcetype":
		return "resourceType"
	case "type":
		return "type"
	case "entry":
		return "entry"
	case "resource":
		return "resource"
	case "request":
		return "request"
	case "method":
		return "method"
	case "url":
		return "url"
	case "ifnoneexist":
		return "ifNoneExist"
	case "data":
		return "data"
	case "contenttype":
		return "contentType"
	}
	return ""
}

// appendFolded appends key with each character replaced by foldRune's
// representative. Two names that strings.EqualFold says are equal, or
// that strings.ToLower makes equal, fold to the same bytes.
func appendFolded(dst, key []byte) []byte {
	for i := 0; i < len(key); {
		c := key[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(key[i:])
		dst = utf8.AppendRune(dst, foldRune(r))
		i += n
	}
	return dst
}

// foldRune is one representative of everything r is equal to ignoring
// case: the smallest rune of the simple-folding orbit of r's lower case
// (lower-cased again when that is an ASCII capital, so ASCII folds to ASCII
// lower case). TestFoldRune checks every rune.
func foldRune(r rune) rune {
	l := unicode.ToLower(r)
	m := l
	for f := unicode.SimpleFold(l); f != l; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	if 'A' <= m && m <= 'Z' {
		m += 'a' - 'A'
	}
	return m
}

// stringSafe[c] is whether byte c stands for itself inside a JSON string:
// not '"', '\\' or a control character.
var stringSafe = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// safeRun returns the index of the first byte from p on that does not
// stand for itself in a JSON string, or len(d). It looks at eight bytes at
// a time: most of a Bundle is string content.
func safeRun(d []byte, p int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; p+8 <= len(d); p += 8 {
		x := binary.LittleEndian.Uint64(d[p:])
		quote, backslash := x^(ones*'"'), x^(ones*'\\')
		// Each term is non-zero iff some byte is below 0x20, '"' or '\\'
		// (bytes ≥ 0x80 never count).
		control := (x - ones*0x20) &^ x & highs
		quotes := (quote - ones) &^ quote & highs
		backslashes := (backslash - ones) &^ backslash & highs
		if control|quotes|backslashes != 0 {
			break
		}
	}
	for p < len(d) && stringSafe[d[p]] {
		p++
	}
	return p
}

// str reads a string at s.pos (on its '"'). With decode, it returns the
// string's bytes: in place when it has no escape, else decoded into
// s.scratch (valid until the next str). Without, it only validates.
func (s *bundleScanner) str(decode bool) ([]byte, error) {
	d := s.data
	start := s.pos + 1
	p := safeRun(d, start)
	if p < len(d) && d[p] == '"' {
		s.pos = p + 1
		return d[start:p], nil
	}
	if decode {
		s.scratch = append(s.scratch[:0], d[start:p]...)
	}
	for p < len(d) {
		switch c := d[p]; {
		case c == '"':
			s.pos = p + 1
			return s.scratch, nil
		case c < 0x20:
			s.pos = p
			return nil, s.syntax("control character in a string")
		}
		// A backslash.
		p++
		if p >= len(d) {
			break
		}
		var r rune
		switch e := d[p]; e {
		case '"', '\\', '/':
			r = rune(e)
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case 'u':
			var ok bool
			r, ok = hex4(d, p+1)
			if !ok {
				s.pos = p
				return nil, s.syntax("invalid \\u escape")
			}
			p += 4
			if utf16IsSurrogate(r) {
				// Parsers disagree on a lone surrogate (Go reads
				// U+FFFD, Java and JavaScript keep it): only a
				// proper pair is read.
				lo, ok := rune(0), false
				if r < 0xDC00 && p+2 < len(d) && d[p+1] == '\\' && d[p+2] == 'u' {
					lo, ok = hex4(d, p+3)
					ok = ok && lo >= 0xDC00 && lo <= 0xDFFF
				}
				if !ok {
					s.pos = p
					return nil, s.syntax("lone UTF-16 surrogate in a \\u escape")
				}
				r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				p += 6
			}
		default:
			s.pos = p
			return nil, s.syntax("invalid escape")
		}
		p++
		if decode {
			s.scratch = utf8.AppendRune(s.scratch, r)
		}
		q := safeRun(d, p)
		if decode {
			s.scratch = append(s.scratch, d[p:q]...)
		}
		p = q
	}
	s.pos = len(d)
	return nil, s.syntax("unterminated string")
}

func utf16IsSurrogate(r rune) bool { return r >= 0xD800 && r <= 0xDFFF }

func hex4(d []byte, p int) (rune, bool) {
	if p+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[p : p+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// keep stores a judged string member. Known codes (and the url of a plain
// create) are kept as constants; other values cost an allocation.
func (s *bundleScanner) keep(w where, v []byte) error {
	var e *bundleEntry
	switch w {
	case atOther:
		return nil
	case atBundleRT, atDocRT:
		s.b.resourceType = intern(v)
		return nil
	case atBundleType:
		s.b.typ = intern(v)
		return nil
	case atResourceRT, atMethod, atURL, atIfNoneExist, atResourceData, atResourceCT:
		e = &s.b.entries[len(s.b.entries)-1]
	default:
		return errNotBundle
	}
	switch w {
	case atResourceRT:
		e.resourceType = intern(v)
	case atMethod:
		e.method = intern(v)
	case atURL:
		e.url = intern(v)
	case atIfNoneExist:
		e.ifNoneExist = string(v)
	case atResourceData:
		e.data = string(v)
	case atResourceCT:
		e.contentType = string(v)
	}
	return nil
}

// internable are the judged codes kept without allocating.
var internable = append([]string{"Bundle", "Patient", fhirreq.CodeBatch, fhirreq.CodeTransaction}, bundleMethods...)

func intern(v []byte) string {
	for _, k := range internable {
		if string(v) == k {
			return k
		}
	}
	return string(v)
}

// watchMatchURL notes the string value that began at start if it is a
// match URL. Only one with a '?', or an escape that could be one
// (\u003f), is decoded and looked at.
func (s *bundleScanner) watchMatchURL(start int) error {
	raw := s.data[start+1 : s.pos-1]
	if bytes.IndexByte(raw, '?') < 0 && !bytes.Contains(raw, []byte(`\u003`)) {
		return nil
	}
	end := s.pos
	s.pos = start
	str, err := s.str(true)
	if err != nil {
		return err
	}
	s.pos = end
	if v := string(str); isMatchURL(v) {
		s.matchURLs = append(s.matchURLs, v)
	}
	return nil
}

// matchURL splits a string HAPI reads, in a reference, as a conditional
// reference (an "inline match URL"): it searches typ with criteria and
// links to the one match, failing when there is none or several, which
// tells the writer whether typ has a match. HAPI takes the type from the
// segment before the '?', after the last '/' ("Organization?name=x",
// "Organization/?name=x", "http://host/fhir/Organization?name=x"), and
// looks it up ignoring case ("organization?name=x"); typ is the type's
// own spelling.
func matchURL(v string) (typ, criteria string, ok bool) {
	head, criteria, found := strings.Cut(v, "?")
	if !found || head == "" {
		return "", "", false
	}
	head = strings.TrimSuffix(head, "/")
	typ, ok = scope.ResourceTypeFold(head[strings.LastIndexByte(head, '/')+1:])
	if !ok {
		return "", "", false
	}
	return typ, criteria, true
}

func isMatchURL(v string) bool {
	_, _, ok := matchURL(v)
	return ok
}
