package fhirguard

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// xmlMatchURLs reads an XML write body (a FHIR resource in XML, or an XML
// Patch) for its root element's name and the strings HAPI would resolve
// as conditional references:
// every attribute value (FHIR XML keeps primitive values in value="…")
// and every text node (an XML Patch's new values), entities and
// character references decoded. It refuses what HAPI's parser and this
// one might read differently: a document that is not UTF-8, a DOCTYPE
// (and so any entity it declares), nesting deeper than a Bundle may,
// and data after the root element.
func xmlMatchURLs(body []byte) (root string, urls []string, err error) {
	if !utf8.Valid(body) {
		return "", nil, errors.New("the body is not valid UTF-8")
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	note := func(v string) {
		if isMatchURL(v) {
			urls = append(urls, v)
		} else if t := strings.TrimSpace(v); t != v && isMatchURL(t) {
			urls = append(urls, t)
		}
	}
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				root = t.Name.Local
			}
			if depth++; depth > maxJSONDepth {
				return "", nil, fmt.Errorf("nested deeper than %d", maxJSONDepth)
			}
			for _, a := range t.Attr {
				note(a.Value)
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if bytes.IndexByte(t, '?') >= 0 {
				note(string(t))
			}
		case xml.Directive:
			return "", nil, errors.New("a DOCTYPE or other directive is not accepted")
		}
	}
	if roots != 1 {
		return "", nil, errors.New("want exactly one root element")
	}
	return root, urls, nil
}
