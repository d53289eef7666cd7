package fhirguard

// The Bundle reading fhir_guard had before bundleScanner: a token-by-token
// shape check, then json.Unmarshal. Kept as the benchmark's baseline and
// the fuzz target's second opinion.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// legacyScan is the old judgeBundle's reading of a body.
func legacyScan(body []byte) (*legacyBundle, error) {
	if !utf8.Valid(body) {
		return nil, errors.New("not UTF-8")
	}
	if err := legacyCheckJSONShape(body); err != nil {
		return nil, err
	}
	var b legacyBundle
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// bundle is what fhir_guard reads of a batch or transaction Bundle: the
// type and each entry's request. Everything else passes untouched.
type legacyBundle struct {
	ResourceType string              `json:"resourceType"`
	Type         string              `json:"type"`
	Entry        []legacyBundleEntry `json:"entry"`
}

type legacyBundleEntry struct {
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
var legacyJudgedKeys = []string{"resourceType", "type", "entry", "resource", "request", "method", "url", "ifNoneExist"}

// checkJSONShape refuses duplicate members (compared ignoring case), other
// spellings of the judged member names, and nesting deeper than
// maxJSONDepth.
func legacyCheckJSONShape(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []legacyJSONFrame
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
				legacyMarkValueDone(stack)
				continue
			}
			key, _ := tok.(string)
			folded := strings.ToLower(key)
			if _, dup := stack[top].keys[folded]; dup {
				return fmt.Errorf("member %q appears more than once (ignoring case)", key)
			}
			stack[top].keys[folded] = struct{}{}
			for _, k := range legacyJudgedKeys {
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
			stack = append(stack, legacyJSONFrame{object: d == '{', keys: map[string]struct{}{}, isKey: d == '{'})
		case '}', ']':
			stack = stack[:top]
			legacyMarkValueDone(stack)
		default:
			legacyMarkValueDone(stack)
		}
	}
}

type legacyJSONFrame struct {
	object bool
	keys   map[string]struct{}
	isKey  bool // the next token in this object is a member name
}

// legacyMarkValueDone makes the enclosing object, if any, expect a member name
// next.
func legacyMarkValueDone(stack []legacyJSONFrame) {
	if top := len(stack) - 1; top >= 0 && stack[top].object {
		stack[top].isKey = true
	}
}
