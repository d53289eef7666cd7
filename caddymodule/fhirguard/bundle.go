package fhirguard

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/crgate/crgate/internal/fhirreq"
	"github.com/crgate/crgate/internal/gate"
	"github.com/crgate/crgate/internal/scope"
)

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
		var err error
		body, err = readAtMost(r.Body, r.ContentLength, max)
		if errors.Is(err, errTooLarge) {
			return nil, tooLarge
		}
		if err != nil {
			return nil, badRequest(reasonBadBody, "reading the body: "+err.Error())
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return body, nil
}

var errTooLarge = errors.New("body too large")

// readAtMost reads all of rd into one buffer, allocated once when the
// length is known (a 1 MB Bundle is copied once, not grown and copied
// again), refusing more than max bytes. The buffer is not pooled: the
// upstream transport may still be writing it after the handler returns.
func readAtMost(rd io.Reader, length, max int64) ([]byte, error) {
	size := int64(512)
	if length >= 0 {
		// One spare byte to see the end of the body without growing.
		size = min(length, max) + 1
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > max {
				return nil, errTooLarge
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > max {
			return nil, errTooLarge
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
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
	s, err := scanBundle(body)
	defer s.release()
	if errors.Is(err, errNotBundle) {
		return "", badRequest(reasonInvalidBundle, "the body is not a FHIR Bundle: "+err.Error())
	}
	if err != nil {
		return "", badRequest(reasonInvalidBundle, "the body is not an unambiguous JSON document: "+err.Error())
	}
	b := &s.b
	if b.resourceType != "Bundle" || (b.typ != fhirreq.CodeBatch && b.typ != fhirreq.CodeTransaction) {
		return "", badRequest(reasonInvalidBundle, "POST to the FHIR base takes a Bundle of type batch or transaction")
	}
	for i := range b.entries {
		if ref := g.judgeEntry(r, q, &b.entries[i]); ref != nil {
			ref.detail = "Bundle entry " + strconv.Itoa(i) + ": " + ref.detail
			return "", ref
		}
	}
	node, _ := gate.NodeFrom(r)
	if ref := checkMatchURLs(node.Scopes, s.matchURLs); ref != nil {
		return "", ref
	}
	return b.typ, nil
}

// writeBodyTypes are the media types of create, update and patch bodies
// the guard reads: FHIR JSON and JSON Patch.
var writeBodyTypes = append([]string{"application/json-patch+json"}, fhirJSON...)

// securityContextHeader is how HAPI takes a raw Binary's
// Binary.securityContext, a reference it resolves like any other.
const securityContextHeader = "X-Security-Context"

// judgeWriteBody reads the body of a create, update or patch (FHIR JSON
// or XML, JSON or XML Patch) for its conditional references: the
// registry resolves each by a search on the node's behalf
// (checkMatchURLs). A body of another media type is refused rather than
// passed unjudged, except a Binary's raw content, which HAPI stores as
// bytes; its X-Security-Context header is judged on every write.
func (g *Guard) judgeWriteBody(r *http.Request, in *fhirreq.Interaction) *refusal {
	node, _ := gate.NodeFrom(r)
	var contexts []string
	for _, v := range r.Header.Values(securityContextHeader) {
		if v = strings.TrimSpace(v); isMatchURL(v) {
			contexts = append(contexts, v)
		}
	}
	if ref := checkMatchURLs(node.Scopes, contexts); ref != nil {
		return ref
	}
	if in.ResourceType == "Binary" {
		if ct := r.Header.Values("Content-Type"); len(ct) == 1 {
			if mt, _, err := mimeType(ct[0]); err == nil && !containsFold(writeBodyTypes, mt) && !isFHIRXML(mt) {
				return nil // raw content, stored as bytes
			}
		}
	}
	mt, ref := mediaType(r.Header)
	if ref != nil {
		return ref
	}
	xmlBody := isFHIRXML(mt)
	if !xmlBody && !containsFold(writeBodyTypes, mt) {
		return &refusal{status: http.StatusUnsupportedMediaType, reason: reasonContentType,
			detail: "create, update and patch bodies are judged as FHIR JSON or XML, JSON Patch or XML Patch only"}
	}
	body, ref := readBody(r, g.MaxBodyBytes)
	if ref != nil {
		return ref
	}
	if xmlBody {
		root, urls, err := xmlMatchURLs(body)
		if err != nil {
			return badRequest(reasonBadBody, "the body is not an unambiguous XML document: "+err.Error())
		}
		if ref := checkBodyType(in, root); ref != nil {
			return ref
		}
		return checkMatchURLs(node.Scopes, urls)
	}
	s, err := scanResource(body)
	defer s.release()
	if err != nil {
		return badRequest(reasonBadBody, "the body is not an unambiguous JSON document: "+err.Error())
	}
	if ref := checkBodyType(in, s.b.resourceType); ref != nil {
		return ref
	}
	return checkMatchURLs(node.Scopes, s.matchURLs)
}

// checkBodyType refuses a create or update whose resource is not of the
// type its path names. HAPI refuses one itself, but a server in front of
// it may not: OpenCR wraps what it receives into Bundle entries, which
// HAPI runs as the resource's own type.
func checkBodyType(in *fhirreq.Interaction, bodyType string) *refusal {
	if in.Code != fhirreq.CodeCreate && in.Code != fhirreq.CodeUpdate {
		return nil // a patch carries a patch document
	}
	if typ, _ := scope.ResourceTypeFold(bodyType); typ != in.ResourceType {
		return badRequest(reasonTypeMismatch, "the resource is a "+strconv.Quote(bodyType)+" but the path names "+in.ResourceType)
	}
	return nil
}

// isFHIRXML reports the XML media types HAPI parses a write body as: a
// FHIR resource in XML (a Binary resource rather than raw content) or an
// XML Patch.
func isFHIRXML(mt string) bool {
	switch mt {
	case "application/fhir+xml", "application/xml+fhir", "application/xml", "text/xml", "application/xml-patch+xml":
		return true
	}
	return false
}

// checkMatchURLs judges the conditional references of a body as the
// searches the registry runs for them: Type?criteria needs Type.search,
// and its criteria the search-reach rules.
func checkMatchURLs(set scope.Set, urls []string) *refusal {
	for _, u := range urls {
		typ, criteria, _ := matchURL(u)
		if !set.Allows(typ, "search") {
			return forbidden(reasonSearchReach, "the conditional reference "+u+" makes the registry search "+typ+
				": this node's scopes do not include "+typ+".search")
		}
		if ref := checkSearchReach(set, criteria); ref != nil {
			return ref
		}
	}
	return nil
}

// bundleMethods are Bundle.entry.request.method's codes.
var bundleMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

func (g *Guard) judgeEntry(r *http.Request, top *judged, e *bundleEntry) *refusal {
	// HAPI's parser looks resourceType up ignoring case.
	if typ, _ := scope.ResourceTypeFold(e.resourceType); typ == "Bundle" {
		return forbidden(reasonNestedBundle, "a Bundle inside a batch or transaction is refused")
	}
	if !e.hasRequest || e.url == "" {
		return badRequest(reasonEntryURLRequired, "request.method and request.url are required")
	}
	method := e.method
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
	rawPath, rawQuery, _ := strings.Cut(e.url, "?")
	rest, err := fhirreq.Canonicalize("/" + rawPath)
	if err != nil {
		return pathRefusal(err)
	}
	in := fhirreq.ClassifyRelative(method, rest, rawQuery)
	in.Base = top.in.Base
	if in.Code == fhirreq.CodeBatchOrTransaction {
		return forbidden(reasonNestedBundle, "a batch or transaction inside a batch or transaction is refused")
	}
	// HAPI creates and updates an entry's resource with the DAO of the
	// resource's own type, whatever type the url names: a POST to
	// "Patient" carrying an Observation creates an Observation. The two
	// must agree, or the entry is judged as one type and runs as another.
	if in.Valid && e.resourceType != "" {
		if ref := checkBodyType(&in, e.resourceType); ref != nil {
			ref.reason = reasonInvalidBundle
			return ref
		}
	}
	q := judged{method: method, query: rawQuery, in: &in}
	if ref := g.judgeInteraction(r, &q, e.ifNoneExist); ref != nil {
		return ref
	}
	if in.Code == fhirreq.CodePatch {
		return judgeEntryPatch(r, e)
	}
	return nil
}

// judgeEntryPatch reads a PATCH entry's patch document for conditional
// references. HAPI takes a JSON Patch or XML Patch from a Binary
// resource's base64 data (a FHIRPath Patch comes as Parameters, whose
// strings the Bundle scan has seen).
func judgeEntryPatch(r *http.Request, e *bundleEntry) *refusal {
	if typ, _ := scope.ResourceTypeFold(e.resourceType); typ != "Binary" {
		return nil
	}
	doc, err := base64.StdEncoding.DecodeString(e.data)
	if err != nil {
		return badRequest(reasonInvalidBundle, "the PATCH entry's Binary data is not base64: "+err.Error())
	}
	mt, _, _ := mimeType(e.contentType)
	var urls []string
	switch mt {
	case "application/json-patch+json":
		s, err := scanResource(doc)
		defer s.release()
		if err != nil {
			return badRequest(reasonInvalidBundle, "the PATCH entry's JSON Patch is not an unambiguous JSON document: "+err.Error())
		}
		urls = s.matchURLs
	case "application/xml-patch+xml":
		if _, urls, err = xmlMatchURLs(doc); err != nil {
			return badRequest(reasonInvalidBundle, "the PATCH entry's XML Patch is not an unambiguous XML document: "+err.Error())
		}
	default:
		return badRequest(reasonInvalidBundle, "a PATCH entry's Binary must be a JSON Patch or an XML Patch")
	}
	node, _ := gate.NodeFrom(r)
	return checkMatchURLs(node.Scopes, urls)
}

// mimeType parses a Content-Type value, lower-casing the media type.
func mimeType(v string) (string, map[string]string, error) {
	return mime.ParseMediaType(v)
}
