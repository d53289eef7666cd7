package fhirguard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/crgate/crgate/internal/fhirreq"
)

// bundle is what fhir_guard reads of a batch or transaction Bundle: the
// type and each entry's request. Everything else passes untouched.
type bundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Entry        []bundleEntry `json:"entry"`
}

type bundleEntry struct {
	Resource *struct {
		ResourceType string `json:"resourceType"`
	} `json:"resource"`
	Request *struct {
		Method      string `json:"method"`
		URL         string `json:"url"`
		IfNoneExist string `json:"ifNoneExist"`
	} `json:"request"`
}

// judgedKeys are the member names fhir_guard reads. encoding/json matches
// member names ignoring case and keeps the last duplicate; FHIR parsers
// are case-sensitive and may keep the first. A Bundle spelling one of
// these names in another case, or repeating any member, could be read
// one way here and another way upstream, so it is refused.
var judgedKeys = []string{"resourceType", "type", "entry", "resource", "request", "method", "url", "ifNoneExist"}

const maxJSONDepth = 64

// checkJSONShape refuses duplicate members (compared ignoring case), other
// spellings of the judged member names, and nesting deeper than
// maxJSONDepth.
func checkJSONShape(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []jsonFrame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		top := len(stack) - 1
		if top >= 0 && stack[top].object && stack[top].isKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:top]
				markValueDone(stack)
				continue
			}
			key, _ := tok.(string)
			folded := strings.ToLower(key)
			if _, dup := stack[top].keys[folded]; dup {
				return fmt.Errorf("member %q appears more than once (ignoring case)", key)
			}
			stack[top].keys[folded] = struct{}{}
			for _, k := range judgedKeys {
				if strings.EqualFold(k, key) && k != key {
					return fmt.Errorf("member %q must be spelled %q", key, k)
				}
			}
			stack[top].isKey = false
			continue
		}
		switch d, _ := tok.(json.Delim); d {
		case '{', '[':
			if len(stack) >= maxJSONDepth {
				return fmt.Errorf("nested deeper than %d", maxJSONDepth)
			}
			stack = append(stack, jsonFrame{object: d == '{', keys: map[string]struct{}{}, isKey: d == '{'})
		case '}', ']':
			stack = stack[:top]
			markValueDone(stack)
		default:
			markValueDone(stack)
		}
	}
}

type jsonFrame struct {
	object bool
	keys   map[string]struct{}
	isKey  bool // the next token in this object is a member name
}

// markValueDone makes the enclosing object, if any, expect a member name
// next.
func markValueDone(stack []jsonFrame) {
	if top := len(stack) - 1; top >= 0 && stack[top].object {
		stack[top].isKey = true
	}
}

// readBody reads a body to judge, refusing one larger than max, and puts
// it back for the upstream.
func readBody(r *http.Request, max int64) ([]byte, *refusal) {
	if enc := r.Header.Values("Content-Encoding"); len(enc) > 0 && !(len(enc) == 1 && strings.EqualFold(strings.TrimSpace(enc[0]), "identity")) {
		return nil, &refusal{status: http.StatusUnsupportedMediaType, reason: reasonContentEncoding,
			detail: "a body fhir_guard judges must not be content-encoded"}
	}
	tooLarge := &refusal{status: http.StatusRequestEntityTooLarge, reason: reasonTooLarge,
		detail: "the body is larger than the " + strconv.FormatInt(max, 10) + " bytes fhir_guard judges"}
	if r.ContentLength > max {
		return nil, tooLarge
	}
	var body []byte
	if r.Body != nil {
		var buf bytes.Buffer
		if r.ContentLength > 0 {
			buf.Grow(int(r.ContentLength))
		}
		n, err := buf.ReadFrom(io.LimitReader(r.Body, max+1))
		if err != nil {
			return nil, badRequest(reasonBadBody, "reading the body: "+err.Error())
		}
		if n > max {
			return nil, tooLarge
		}
		body = buf.Bytes()
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return body, nil
}

// mediaType returns the lower-cased media type of a Content-Type header,
// refusing a charset other than UTF-8 (a body the upstream would decode
// differently from how it was judged).
func mediaType(h http.Header) (string, *refusal) {
	ct := h.Values("Content-Type")
	if len(ct) != 1 {
		return "", &refusal{status: http.StatusUnsupportedMediaType, reason: reasonContentType,
			detail: "exactly one Content-Type is required"}
	}
	mt, params, err := mimeType(ct[0])
	if err != nil {
		return "", &refusal{status: http.StatusUnsupportedMediaType, reason: reasonContentType, detail: "unparsable Content-Type"}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return "", &refusal{status: http.StatusUnsupportedMediaType, reason: reasonContentType, detail: "only UTF-8 bodies are judged"}
	}
	return mt, nil
}

// fhirJSON are the JSON FHIR media types HAPI reads Bundles as.
var fhirJSON = []string{"application/fhir+json", "application/json", "application/json+fhir"}

// judgeBundle reads a batch or transaction Bundle and judges every entry
// as if it were a request of its own below the same base. It returns the
// interaction code (batch or transaction).
func (g *Guard) judgeBundle(r *http.Request, q *judged) (string, *refusal) {
	mt, ref := mediaType(r.Header)
	if ref != nil {
		return "", ref
	}
	if !containsFold(fhirJSON, mt) {
		return "", &refusal{status: http.StatusUnsupportedMediaType, reason: reasonContentType,
			detail: "batch and transaction Bundles are judged as FHIR JSON only (application/fhir+json)"}
	}
	body, ref := readBody(r, g.MaxBodyBytes)
	if ref != nil {
		return "", ref
	}
	if !utf8.Valid(body) {
		return "", badRequest(reasonInvalidBundle, "the body is not valid UTF-8")
	}
	if err := checkJSONShape(body); err != nil {
		return "", badRequest(reasonInvalidBundle, "the body is not an unambiguous JSON document: "+err.Error())
	}
	var b bundle
	if err := json.Unmarshal(body, &b); err != nil {
		return "", badRequest(reasonInvalidBundle, "the body is not a FHIR Bundle: "+err.Error())
	}
	if b.ResourceType != "Bundle" || (b.Type != fhirreq.CodeBatch && b.Type != fhirreq.CodeTransaction) {
		return "", badRequest(reasonInvalidBundle, "POST to the FHIR base takes a Bundle of type batch or transaction")
	}
	for i := range b.Entry {
		if ref := g.judgeEntry(r, q, &b.Entry[i]); ref != nil {
			ref.detail = "Bundle entry " + strconv.Itoa(i) + ": " + ref.detail
			return "", ref
		}
	}
	return b.Type, nil
}

// bundleMethods are Bundle.entry.request.method's codes.
var bundleMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

func (g *Guard) judgeEntry(r *http.Request, top *judged, e *bundleEntry) *refusal {
	if e.Resource != nil && e.Resource.ResourceType == "Bundle" {
		return forbidden(reasonNestedBundle, "a Bundle inside a batch or transaction is refused")
	}
	if e.Request == nil || e.Request.URL == "" {
		return badRequest(reasonEntryURLRequired, "request.method and request.url are required")
	}
	method := e.Request.Method
	found := false
	for _, m := range bundleMethods {
		found = found || m == method
	}
	if !found {
		return badRequest(reasonInvalidBundle, "request.method must be one of GET, HEAD, POST, PUT, PATCH, DELETE")
	}
	// request.url is relative to the base: "Patient/1", "Patient?x=y".
	// A leading '/' (server root or base?) and absolute URLs are refused
	// by the canonicaliser as an empty segment and ':'.
	rawPath, rawQuery, _ := strings.Cut(e.Request.URL, "?")
	rest, err := fhirreq.Canonicalize("/" + rawPath)
	if err != nil {
		return pathRefusal(err)
	}
	in := fhirreq.ClassifyRelative(method, rest, rawQuery)
	in.Base = top.in.Base
	if in.Code == fhirreq.CodeBatchOrTransaction {
		return forbidden(reasonNestedBundle, "a batch or transaction inside a batch or transaction is refused")
	}
	q := judged{method: method, query: rawQuery, in: &in}
	return g.judgeInteraction(r, &q, e.Request.IfNoneExist != "")
}

// mimeType parses a Content-Type value, lower-casing the media type.
func mimeType(v string) (string, map[string]string, error) {
	return mime.ParseMediaType(v)
}
