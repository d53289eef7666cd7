package fhirguard

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

var errBadQuery = errors.New("malformed percent-encoding in a parameter")

// eachQueryKey calls f with every parameter name of rawQuery (or of a
// form-encoded body), decoded, until f returns false. Names are split on
// '&' and on ';' too, since some servers still accept ';' as a separator;
// a name with a malformed escape is an error.
func eachQueryKey(rawQuery string, f func(key string) bool) error {
	return eachParam(rawQuery, false, func(k, _ string) bool { return f(k) })
}

// eachParam is eachQueryKey with the values too (decoded only when
// values is set).
func eachParam(rawQuery string, values bool, f func(key, value string) bool) error {
	for rawQuery != "" {
		var part string
		if i := strings.IndexAny(rawQuery, "&;"); i >= 0 {
			part, rawQuery = rawQuery[:i], rawQuery[i+1:]
		} else {
			part, rawQuery = rawQuery, ""
		}
		key, value, _ := strings.Cut(part, "=")
		key, err := unescapeParam(key)
		if err != nil {
			return err
		}
		if values {
			if value, err = unescapeParam(value); err != nil {
				return err
			}
		}
		if !f(key, value) {
			return nil
		}
	}
	return nil
}

func unescapeParam(s string) (string, error) {
	if !strings.ContainsAny(s, "%+") {
		return s, nil
	}
	dec, err := url.QueryUnescape(s)
	if err != nil {
		return "", errBadQuery
	}
	return dec, nil
}

// checkParams refuses parameter names that change what the request means
// to the upstream: _method (method override) under any spelling the
// upstream could fold to it, and _getpages anywhere HAPI would read it
// differently from the gateway (checkPaging).
func checkParams(q *judged) *refusal {
	var ref *refusal
	pages := 0
	err := eachQueryKey(q.query, func(k string) bool {
		k = strings.TrimSpace(k)
		if strings.EqualFold(k, "_method") {
			ref = badRequest(reasonMethodOverride, "the _method parameter is refused: the method is the request's own")
			return false
		}
		if strings.EqualFold(k, pagingParam) {
			pages++
		}
		return true
	})
	if err != nil {
		return badRequest(reasonBadQuery, err.Error())
	}
	if ref != nil || pages == 0 {
		return ref
	}
	return checkPaging(q, pages)
}

// overrideHeaders are the method-override headers some frameworks honour;
// compared ignoring case and treating '_' as '-', as some servers do.
var overrideHeaders = []string{"x-http-method-override", "x-http-method", "x-method-override"}

// cascadeHeader makes HAPI's DELETE (and a transaction's DELETE entries,
// which see the request's headers) delete every resource that refers to
// the one deleted, whatever their types: the header twin of the
// _cascade=delete parameter.
const cascadeHeader = "x-cascade"

// checkHeaders refuses a method-override header and HAPI's cascade
// header, whatever their values.
func checkHeaders(h http.Header) *refusal {
	for name := range h {
		for _, o := range overrideHeaders {
			if headerNameIs(name, o) {
				return badRequest(reasonMethodOverride, "method-override header "+o+" is refused: the method is the request's own")
			}
		}
		if headerNameIs(name, cascadeHeader) {
			return forbidden(reasonConditionalDel, "the X-Cascade header (cascading delete) is never allowed through the gateway")
		}
	}
	return nil
}

// headerNameIs compares a header name with a lower-case, dash-separated
// one, ignoring case and reading '_' as '-'.
func headerNameIs(name, want string) bool {
	if len(name) != len(want) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		} else if c == '_' {
			c = '-'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}
