package sim

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

const (
	defaultCount = 10
	maxCount     = 100
)

type predKind uint8

const (
	predID predKind = iota
	predFamily
	predGiven
	predName
	predGender
	predBirthdate
	predIdentifier
)

type strMode uint8

const (
	modeStartsWith strMode = iota // FHIR's default for string parameters
	modeExact
	modeContains
)

// pred is one search parameter occurrence. Occurrences are ANDed; the
// comma-separated values in raw are ORed, matched in place so a search
// allocates nothing per patient.
type pred struct {
	kind predKind
	mode strMode
	raw  string // folded for case-insensitive string modes
}

// maxPreds bounds the search parameters a request may carry. A fixed
// array keeps the criteria on the stack.
const maxPreds = 32

type criteria struct {
	preds  [maxPreds]pred
	npred  int
	count  int
	offset int
}

var errOnlyEq = errors.New("only the eq prefix is supported for birthdate")

// parseSearch reads the Patient search parameters the simulator supports.
// Parameters it does not know are ignored, as HAPI's lenient mode does,
// so a gateway test can send anything and see a 200.
func parseSearch(params string, c *criteria) error {
	c.count = defaultCount
	it := paramIter{s: params}
	for {
		k, v, ok, err := it.next()
		if err != nil {
			return errors.New("invalid percent-encoding in search parameters")
		}
		if !ok {
			return nil
		}
		name, mod, _ := strings.Cut(k, ":")
		switch name {
		case "_count":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return errors.New("invalid _count value: " + strconv.Quote(v))
			}
			c.count = min(n, maxCount)
			continue
		case "_offset":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return errors.New("invalid _offset value: " + strconv.Quote(v))
			}
			c.offset = n
			continue
		case "_summary":
			if v == "count" {
				c.count = 0
			}
			continue
		}
		if v == "" {
			// FHIR: a parameter without a value is ignored.
			continue
		}
		var p pred
		switch name {
		case "_id":
			p.kind = predID
		case "family":
			p.kind = predFamily
		case "given":
			p.kind = predGiven
		case "name":
			p.kind = predName
		case "gender":
			p.kind = predGender
		case "birthdate":
			p.kind = predBirthdate
			if err := checkDates(v); err != nil {
				return err
			}
		case "identifier":
			p.kind = predIdentifier
		default:
			continue
		}
		switch p.kind {
		case predFamily, predGiven, predName:
			switch mod {
			case "":
				p.mode = modeStartsWith
			case "exact":
				p.mode = modeExact
			case "contains":
				p.mode = modeContains
			default:
				return errors.New("unsupported modifier :" + mod + " on " + name)
			}
			if p.mode != modeExact {
				v = foldString(v)
			}
		default:
			if mod != "" {
				return errors.New("unsupported modifier :" + mod + " on " + name)
			}
		}
		p.raw = v
		if c.npred == maxPreds {
			return errors.New("too many search parameters")
		}
		c.preds[c.npred] = p
		c.npred++
	}
}

// checkDates accepts eq-prefixed or unprefixed dates of year, month or day
// precision.
func checkDates(v string) error {
	for part := range strings.SplitSeq(v, ",") {
		d := trimEq(part)
		if len(d) >= 2 && d[0] >= 'a' && d[0] <= 'z' {
			return errOnlyEq
		}
		if !validDate(d) {
			return errors.New("invalid birthdate value: " + strconv.Quote(part))
		}
	}
	return nil
}

func trimEq(s string) string {
	if strings.HasPrefix(s, "eq") {
		return s[2:]
	}
	return s
}

func validDate(d string) bool {
	if len(d) != 4 && len(d) != 7 && len(d) != 10 {
		return false
	}
	for i := 0; i < len(d); i++ {
		if i == 4 || i == 7 {
			if d[i] != '-' {
				return false
			}
		} else if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	if len(d) >= 7 {
		if m := (d[5]-'0')*10 + d[6] - '0'; m < 1 || m > 12 {
			return false
		}
	}
	if len(d) == 10 {
		if day := (d[8]-'0')*10 + d[9] - '0'; day < 1 || day > 31 {
			return false
		}
	}
	return true
}

func (c *criteria) match(p *patient) bool {
	for i := range c.preds[:c.npred] {
		if !c.preds[i].match(p) {
			return false
		}
	}
	return true
}

func (pr *pred) match(p *patient) bool {
	for rest := pr.raw; ; {
		var v string
		var more bool
		v, rest, more = strings.Cut(rest, ",")
		if pr.matchOne(p, v) {
			return true
		}
		if !more {
			return false
		}
	}
}

func (pr *pred) matchOne(p *patient, v string) bool {
	switch pr.kind {
	case predID:
		return p.id == v
	case predFamily:
		return matchString(pr.mode, p.family, p.familyExact, v)
	case predGiven:
		for i := range p.givens {
			if matchString(pr.mode, p.givens[i], p.givensExact[i], v) {
				return true
			}
		}
		return false
	case predName:
		if matchString(pr.mode, p.family, p.familyExact, v) {
			return true
		}
		for i := range p.givens {
			if matchString(pr.mode, p.givens[i], p.givensExact[i], v) {
				return true
			}
		}
		return false
	case predGender:
		if _, code, ok := strings.Cut(v, "|"); ok {
			v = code
		}
		return strings.EqualFold(p.gender, v)
	case predBirthdate:
		d := trimEq(v)
		return strings.HasPrefix(p.birthDate, d)
	case predIdentifier:
		system, value, hasSystem := strings.Cut(v, "|")
		if !hasSystem {
			value, system = system, ""
		}
		for _, id := range p.identifier {
			if hasSystem && id.System != system {
				continue
			}
			if value == "" || id.Value == value {
				return true
			}
		}
		return false
	}
	return false
}

func matchString(mode strMode, folded, exact, v string) bool {
	switch mode {
	case modeExact:
		return exact == v
	case modeContains:
		return strings.Contains(folded, v)
	}
	return strings.HasPrefix(folded, v)
}

// search answers a search on typ. Only Patient has data; every other type
// is an empty searchset.
func (g *Registry) search(w http.ResponseWriter, q *fhirReq, typ, params string) {
	if typ != "Patient" {
		g.emptySearch(w, q, typ)
		return
	}
	var c criteria
	if err := parseSearch(params, &c); err != nil {
		writeOO(w, http.StatusBadRequest, "error", "processing", "HAPI-0524: "+err.Error())
		return
	}

	var window [maxCount]*patient
	nwin, total := 0, 0
	if c.npred == 1 && c.preds[0].kind == predID && strings.IndexByte(c.preds[0].raw, ',') < 0 {
		// The common read-by-search: no scan.
		if p := g.byID[c.preds[0].raw]; p != nil {
			total = 1
			if c.offset == 0 && c.count > 0 {
				window[0] = p
				nwin = 1
			}
		}
	} else {
		for _, p := range g.patients {
			if !c.match(p) {
				continue
			}
			if total >= c.offset && nwin < c.count {
				window[nwin] = p
				nwin++
			}
			total++
		}
	}

	bp := getBuf()
	b := g.appendBundleHead(*bp, "searchset", total)
	b = append(b, `,"link":[{"relation":"self","url":"`...)
	b = appendBaseURL(b, q)
	b = append(b, '/')
	b = append(b, typ...)
	if params != "" {
		b = append(b, '?')
		b = appendEscaped(b, params)
	}
	b = append(b, `"}`...)
	if next := c.offset + nwin; nwin > 0 && next < total {
		b = append(b, `,{"relation":"next","url":"`...)
		b = appendBaseURL(b, q)
		b = append(b, '/')
		b = append(b, typ...)
		b = append(b, '?')
		b = appendParamsWithout(b, params, "_offset")
		b = append(b, "_offset="...)
		b = strconv.AppendInt(b, int64(next), 10)
		b = append(b, '"', '}')
	}
	b = append(b, ']')
	if nwin > 0 {
		b = append(b, `,"entry":[`...)
		for i, p := range window[:nwin] {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"fullUrl":"`...)
			b = appendBaseURL(b, q)
			b = append(b, "/Patient/"...)
			b = append(b, p.id...)
			b = append(b, `","resource":`...)
			b = append(b, p.current().json...)
			b = append(b, `,"search":{"mode":"match"}}`...)
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	writeBytes(w, http.StatusOK, ctFHIR, b)
	*bp = b
	putBuf(bp)
}

// appendParamsWithout copies the raw parameters except those named drop,
// each followed by '&', JSON-escaped.
func appendParamsWithout(b []byte, params, drop string) []byte {
	for params != "" {
		var pair string
		pair, params, _ = strings.Cut(params, "&")
		if pair == "" {
			continue
		}
		if k, _, _ := strings.Cut(pair, "="); k == drop {
			continue
		}
		b = appendEscaped(b, pair)
		b = append(b, '&')
	}
	return b
}

// emptySearch is the searchset for a type without data (typ "" for a
// system-level search).
func (g *Registry) emptySearch(w http.ResponseWriter, q *fhirReq, typ string) {
	bp := getBuf()
	b := g.appendBundleHead(*bp, "searchset", 0)
	b = append(b, `,"link":[{"relation":"self","url":"`...)
	b = appendBaseURL(b, q)
	if typ != "" {
		b = append(b, '/')
		b = append(b, typ...)
	}
	if q.rawQuery != "" {
		b = append(b, '?')
		b = appendEscaped(b, q.rawQuery)
	}
	b = append(b, `"}]}`...)
	writeBytes(w, http.StatusOK, ctFHIR, b)
	*bp = b
	putBuf(bp)
}

// appendBundleHead opens a Bundle up to and including "total", which is
// left out when negative (batch and transaction responses have none).
func (g *Registry) appendBundleHead(b []byte, typ string, total int) []byte {
	b = append(b, `{"resourceType":"Bundle","id":"`...)
	b = appendPseudoUUID(b, g.bundleSeq.Add(1))
	b = append(b, `","meta":{"lastUpdated":"`...)
	b = appendNow(b)
	b = append(b, `"},"type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	if total < 0 {
		return b
	}
	b = append(b, `,"total":`...)
	return strconv.AppendInt(b, int64(total), 10)
}

// stamp caches the formatted current time: formatting it took a third of
// an _id search.
type stamp struct {
	ms   int64
	text []byte
}

var lastStamp atomic.Pointer[stamp]

// appendNow appends the current time as a FHIR instant.
func appendNow(b []byte) []byte {
	t := now()
	ms := t.UnixMilli()
	if s := lastStamp.Load(); s != nil && s.ms == ms {
		return append(b, s.text...)
	}
	s := &stamp{ms: ms, text: t.UTC().AppendFormat(nil, fhirInstant)}
	lastStamp.Store(s)
	return append(b, s.text...)
}

// appendPseudoUUID writes a version-4-shaped UUID derived from n: Bundle ids
// look like HAPI's without a call into crypto/rand on the hot path.
func appendPseudoUUID(b []byte, n uint64) []byte {
	const hexdigits = "0123456789abcdef"
	// splitmix64, twice, for 128 well-mixed bits.
	mix := func(x uint64) uint64 {
		x += 0x9e3779b97f4a7c15
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
		x = (x ^ (x >> 27)) * 0x94d049bb133111eb
		return x ^ (x >> 31)
	}
	hi, lo := mix(n), mix(n^0x5eedc11e)
	hi = hi&^0xf000 | 0x4000             // version 4
	lo = lo&^(0xc<<60) | uint64(0x8)<<60 // RFC 4122 variant
	var u [32]byte
	for i := 0; i < 16; i++ {
		u[15-i] = hexdigits[hi>>(4*i)&0xf]
		u[31-i] = hexdigits[lo>>(4*i)&0xf]
	}
	b = append(b, u[0:8]...)
	b = append(b, '-')
	b = append(b, u[8:12]...)
	b = append(b, '-')
	b = append(b, u[12:16]...)
	b = append(b, '-')
	b = append(b, u[16:20]...)
	b = append(b, '-')
	return append(b, u[20:32]...)
}

// history answers _history at system (typ ""), type (id "") or instance
// level, newest version first, paged with _count and _offset.
func (g *Registry) history(w http.ResponseWriter, q *fhirReq, typ, id string) {
	var c criteria
	if err := parseSearch(q.rawQuery, &c); err != nil {
		writeOO(w, http.StatusBadRequest, "error", "processing", "HAPI-0524: "+err.Error())
		return
	}
	var refs []verRef
	switch {
	case typ == "" || (typ == "Patient" && id == ""):
		refs = g.historyOrder
	case id != "":
		p := g.lookup(typ, id)
		if p == nil {
			notKnown(w, typ, id)
			return
		}
		for v := len(p.versions); v >= 1; v-- {
			refs = append(refs, verRef{p, v})
		}
	}
	total := len(refs)
	page := refs[min(c.offset, total):min(c.offset+c.count, total)]

	bp := getBuf()
	b := g.appendBundleHead(*bp, "history", total)
	b = append(b, `,"link":[{"relation":"self","url":"`...)
	b = appendBaseURL(b, q)
	b = appendEscaped(b, q.rest)
	if q.rawQuery != "" {
		b = append(b, '?')
		b = appendEscaped(b, q.rawQuery)
	}
	b = append(b, `"}]`...)
	if len(page) > 0 {
		b = append(b, `,"entry":[`...)
		for i, r := range page {
			if i > 0 {
				b = append(b, ',')
			}
			v := &r.p.versions[r.v-1]
			b = append(b, `{"fullUrl":"`...)
			b = appendBaseURL(b, q)
			b = append(b, "/Patient/"...)
			b = append(b, r.p.id...)
			b = append(b, `","resource":`...)
			b = append(b, v.json...)
			if r.v == 1 {
				b = append(b, `,"request":{"method":"POST","url":"Patient"},"response":{"status":"201 Created"`...)
			} else {
				b = append(b, `,"request":{"method":"PUT","url":"Patient/`...)
				b = append(b, r.p.id...)
				b = append(b, `"},"response":{"status":"200 OK"`...)
			}
			b = append(b, `,"etag":`...)
			b = appendJSONString(b, v.etag[0])
			b = append(b, `,"lastModified":"`...)
			b = append(b, v.lastUpdated...)
			b = append(b, `"}}`...)
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	writeBytes(w, http.StatusOK, ctFHIR, b)
	*bp = b
	putBuf(bp)
}

// verRef names one version of one patient.
type verRef struct {
	p *patient
	v int
}
