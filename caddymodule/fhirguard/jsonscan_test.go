package fhirguard

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestFoldRune checks every rune: runes strings.EqualFold equates (one
// simple-folding orbit) and runes strings.ToLower equates fold alike, and
// ASCII folds to ASCII lower case.
func TestFoldRune(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		f := foldRune(r)
		for o := unicode.SimpleFold(r); o != r; o = unicode.SimpleFold(o) {
			if foldRune(o) != f {
				t.Fatalf("foldRune(%U) = %U, foldRune(%U) = %U in the same orbit", r, f, o, foldRune(o))
			}
		}
		if l := unicode.ToLower(r); foldRune(l) != f {
			t.Fatalf("foldRune(%U) = %U, foldRune(ToLower = %U) = %U", r, f, l, foldRune(l))
		}
		if r < utf8.RuneSelf && string(f) != strings.ToLower(string(r)) {
			t.Fatalf("foldRune(%q) = %q, want ASCII lower case", r, f)
		}
	}
}

func TestJudgedSpelling(t *testing.T) {
	for _, k := range judgedKeys {
		if got := judgedSpelling(appendFolded(nil, []byte(k))); got != k {
			t.Errorf("judgedSpelling(fold(%q)) = %q", k, got)
		}
	}
	for _, k := range []string{"id", "fullUrl", "resourceTypes", "urls", "entrY2"} {
		if got := judgedSpelling(appendFolded(nil, []byte(k))); got != "" {
			t.Errorf("judgedSpelling(fold(%q)) = %q, want none", k, got)
		}
	}
}

func TestScanBundle(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	// many is an object with n members (past pairwiseKeys, where the
	// scanner switches to a map), then member last.
	many := func(n int, last string) string {
		var b strings.Builder
		b.WriteString(`{"resourceType":"Bundle","x":{`)
		for i := range n {
			b.WriteString(`"k` + strconv.Itoa(i) + `":1,`)
		}
		b.WriteString(last + `:2}}`)
		return b.String()
	}
	tests := []struct {
		name string
		body string
		ok   bool
		// for ok cases: the first entry's method and url
		method, url string
	}{
		{"ok/batch", bundleOf("batch", entry("GET", "Patient/1")), true, "GET", "Patient/1"},
		{"ok/escaped-url", bundleOf("batch", `{"request":{"method":"G\u0045T","url":"Patient\/1\u0024x"}}`), true, "GET", "Patient/1$x"},
		{"ok/escaped-key", bundleOf("batch", `{"request":{"\u006dethod":"GET","ur\u006c":"Patient"}}`), true, "GET", "Patient"},
		{"ok/surrogate-pair", bundleOf("batch", `{"x":"\ud83d\ude00","request":{"method":"GET","url":"Patient"}}`), true, "GET", "Patient"},
		{"ok/numbers", `{"resourceType":"Bundle","type":"batch","n":[0,-0,1.5,-2e10,3E+2,4e-3,12345678901234567890123]}`, true, "", ""},
		{"ok/whitespace", " \t\r\n{ \"resourceType\" : \"Bundle\" , \"type\":\"batch\" } \n", true, "", ""},
		{"ok/nulls", `{"resourceType":"Bundle","type":"batch","entry":[null,{"resource":null,"request":{"method":"GET","url":"Patient","ifNoneExist":null}}]}`, true, "", ""},
		{"ok/depth-64", `{"resourceType":"Bundle","x":` + deep(63) + `}`, true, "", ""},
		{"ok/many-members", many(40, `"k40"`), true, "", ""},
		{"ok/nul-escape", `{"resourceType":"Bundle","x":"\u0000"}`, true, "", ""},
		{"fail/depth-65", `{"resourceType":"Bundle","x":` + deep(64) + `}`, false, "", ""},
		{"fail/duplicate", `{"resourceType":"Bundle","type":"batch","type":"transaction"}`, false, "", ""},
		{"fail/duplicate-unjudged", `{"resourceType":"Bundle","x":1,"x":2}`, false, "", ""},
		{"fail/duplicate-case", `{"resourceType":"Bundle","xY":1,"Xy":2}`, false, "", ""},
		{"fail/duplicate-escaped", `{"resourceType":"Bundle","x":1,"\u0078":2}`, false, "", ""},
		{"fail/duplicate-long-s", `{"resourceType":"Bundle","status":1,"ſtatus":2}`, false, "", ""},
		{"fail/duplicate-kelvin", `{"resourceType":"Bundle","kind":1,"Kind":2}`, false, "", ""},
		{"fail/duplicate-dotted-i", `{"resourceType":"Bundle","id":1,"İd":2}`, false, "", ""},
		{"fail/duplicate-many-members", many(40, `"k7"`), false, "", ""},
		{"fail/duplicate-many-members-case", many(40, `"K7"`), false, "", ""},
		{"fail/spelling-url", bundleOf("batch", `{"request":{"method":"GET","Url":"Patient"}}`), false, "", ""},
		{"fail/spelling-long-s", bundleOf("batch", `{"reſource":{"resourceType":"Bundle"},"request":{"method":"POST","url":"Patient"}}`), false, "", ""},
		{"fail/spelling-long-s-request", bundleOf("batch", `{"requeſt":{"method":"GET","url":"Patient"}}`), false, "", ""},
		{"fail/spelling-long-s-if-none-exist", bundleOf("batch", `{"request":{"method":"POST","url":"Patient","ifNoneExiſt":"identifier=a|b"}}`), false, "", ""},
		{"ok/dotless-i-is-another-name", bundleOf("batch", `{"request":{"method":"POST","url":"Patient","ıfNoneExist":"x"}}`), true, "POST", "Patient"},
		{"fail/spelling-nested", `{"resourceType":"Bundle","x":{"ResourceType":"Bundle"}}`, false, "", ""},
		{"fail/lone-high-surrogate", `{"resourceType":"Bundle","x":"\ud800"}`, false, "", ""},
		{"fail/lone-low-surrogate", `{"resourceType":"Bundle","x":"\udc00"}`, false, "", ""},
		{"fail/reversed-surrogates", `{"resourceType":"Bundle","x":"\udc00\ud800"}`, false, "", ""},
		{"fail/surrogate-key", `{"resourceType":"Bundle","\ud800":1,"\udc00":2}`, false, "", ""},
		{"fail/high-then-char", `{"resourceType":"Bundle","x":"\ud800a"}`, false, "", ""},
		{"fail/high-then-high", `{"resourceType":"Bundle","x":"\ud800\ud800"}`, false, "", ""},
		{"fail/invalid-utf8", "{\"resourceType\":\"Bundle\",\"x\":\"\xff\"}", false, "", ""},
		{"fail/overlong-utf8", "{\"resourceType\":\"Bundle\",\"x\":\"\xc0\xaf\"}", false, "", ""},
		{"fail/utf8-surrogate", "{\"resourceType\":\"Bundle\",\"x\":\"\xed\xa0\x80\"}", false, "", ""},
		{"fail/bom", "\ufeff{\"resourceType\":\"Bundle\"}", false, "", ""},
		{"fail/control-char", "{\"resourceType\":\"Bundle\",\"x\":\"a\tb\"}", false, "", ""},
		{"fail/bad-escape", `{"resourceType":"Bundle","x":"\x41"}`, false, "", ""},
		{"fail/short-unicode", `{"resourceType":"Bundle","x":"\u41"}`, false, "", ""},
		{"fail/unterminated", `{"resourceType":"Bundle","x":"abc`, false, "", ""},
		{"fail/unterminated-escape", `{"resourceType":"Bundle","x":"abc\`, false, "", ""},
		{"fail/single-quotes", `{'resourceType':'Bundle'}`, false, "", ""},
		{"fail/comment", `{"resourceType":"Bundle"/**/}`, false, "", ""},
		{"fail/trailing-comma-object", `{"resourceType":"Bundle",}`, false, "", ""},
		{"fail/trailing-comma-array", `{"resourceType":"Bundle","x":[1,]}`, false, "", ""},
		{"fail/missing-comma", `{"resourceType":"Bundle" "x":1}`, false, "", ""},
		{"fail/missing-colon", `{"resourceType" "Bundle"}`, false, "", ""},
		{"fail/unquoted-key", `{resourceType:"Bundle"}`, false, "", ""},
		{"fail/trailing-data", `{"resourceType":"Bundle"}{}`, false, "", ""},
		{"fail/trailing-garbage", `{"resourceType":"Bundle"} x`, false, "", ""},
		{"fail/nan", `{"resourceType":"Bundle","x":NaN}`, false, "", ""},
		{"fail/infinity", `{"resourceType":"Bundle","x":-Infinity}`, false, "", ""},
		{"fail/leading-zero", `{"resourceType":"Bundle","x":01}`, false, "", ""},
		{"fail/plus", `{"resourceType":"Bundle","x":+1}`, false, "", ""},
		{"fail/bare-dot", `{"resourceType":"Bundle","x":1.}`, false, "", ""},
		{"fail/leading-dot", `{"resourceType":"Bundle","x":.5}`, false, "", ""},
		{"fail/bare-exponent", `{"resourceType":"Bundle","x":1e}`, false, "", ""},
		{"fail/hex", `{"resourceType":"Bundle","x":0x1}`, false, "", ""},
		{"fail/minus", `{"resourceType":"Bundle","x":-}`, false, "", ""},
		{"fail/literal-case", `{"resourceType":"Bundle","x":True}`, false, "", ""},
		{"fail/literal-short", `{"resourceType":"Bundle","x":nul}`, false, "", ""},
		{"fail/empty", ``, false, "", ""},
		{"fail/only-space", ` `, false, "", ""},
		{"fail/unclosed", `{"resourceType":"Bundle"`, false, "", ""},
		{"fail/unclosed-array", `{"resourceType":"Bundle","x":[`, false, "", ""},
		{"fail/type-top-array", `[]`, false, "", ""},
		{"fail/type-top-string", `"Bundle"`, false, "", ""},
		{"fail/type-resource-type-number", `{"resourceType":1}`, false, "", ""},
		{"fail/type-entry-object", `{"resourceType":"Bundle","entry":{}}`, false, "", ""},
		{"fail/type-entry-element", `{"resourceType":"Bundle","entry":["x"]}`, false, "", ""},
		{"fail/type-resource", `{"resourceType":"Bundle","entry":[{"resource":"Bundle"}]}`, false, "", ""},
		{"fail/type-request", `{"resourceType":"Bundle","entry":[{"request":[]}]}`, false, "", ""},
		{"fail/type-method", `{"resourceType":"Bundle","entry":[{"request":{"method":true}}]}`, false, "", ""},
		{"fail/type-url", `{"resourceType":"Bundle","entry":[{"request":{"url":{}}}]}`, false, "", ""},
		{"fail/type-if-none-exist", `{"resourceType":"Bundle","entry":[{"request":{"ifNoneExist":1}}]}`, false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := scanBundle([]byte(tt.body))
			defer s.release()
			_, legacyErr := legacyScan([]byte(tt.body))
			if !tt.ok {
				if err == nil {
					t.Fatalf("accepted %q", tt.body)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if legacyErr != nil {
				t.Fatalf("the old reader refused what the scanner accepts: %v", legacyErr)
			}
			if tt.method == "" {
				return
			}
			if len(s.b.entries) == 0 {
				t.Fatal("no entries")
			}
			if e := s.b.entries[0]; !e.hasRequest || e.method != tt.method || e.url != tt.url {
				t.Fatalf("entry 0 = %+v, want %s %s", e, tt.method, tt.url)
			}
		})
	}
}

// TestScanBundleReadsLikeTheOldReader compares the judged members with
// what checkJSONShape + json.Unmarshal read.
func TestScanBundleReadsLikeTheOldReader(t *testing.T) {
	body := benchBundle()
	s, err := scanBundle(body)
	defer s.release()
	if err != nil {
		t.Fatal(err)
	}
	old, err := legacyScan(body)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffLegacy(&s.b, old); d != "" {
		t.Fatal(d)
	}
	if len(s.b.entries) < 500 {
		t.Fatalf("%d entries", len(s.b.entries))
	}
}

// TestScanBundleErrors checks that wrong JSON types are told apart from
// syntax errors (they are worded differently in the refusal).
func TestScanBundleErrors(t *testing.T) {
	s, err := scanBundle([]byte(`{"resourceType":"Bundle","entry":{}}`))
	s.release()
	if !errors.Is(err, errNotBundle) {
		t.Errorf("entry object: %v, want errNotBundle", err)
	}
	s, err = scanBundle([]byte(`{"resourceType":"Bundle","entry":[}`))
	s.release()
	var je *errJSON
	if !errors.As(err, &je) || je.off != len(`{"resourceType":"Bundle","entry":[`) {
		t.Errorf("syntax error: %v, want one at the '}'", err)
	}
}

// TestReadAtMost: a body is read whole whether or not its length is known
// beforehand, and one byte over max is refused however it arrives.
func TestReadAtMost(t *testing.T) {
	body := strings.Repeat("0123456789", 100)
	tests := []struct {
		name   string
		body   string
		length int64
		max    int64
		ok     bool
	}{
		{"ok/known-length", body, int64(len(body)), 4096, true},
		{"ok/unknown-length", body, -1, 4096, true},
		{"ok/unknown-length-exactly-max", body, -1, int64(len(body)), true},
		{"ok/known-length-exactly-max", body, int64(len(body)), int64(len(body)), true},
		{"ok/empty", "", 0, 10, true},
		{"fail/unknown-length-over-max", body, -1, int64(len(body)) - 1, false},
		{"fail/more-than-declared-over-max", body, 10, int64(len(body)) - 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A MultiReader hides the concrete type, like a network body.
			got, err := readAtMost(io.MultiReader(strings.NewReader(tt.body)), tt.length, tt.max)
			if !tt.ok {
				if !errors.Is(err, errTooLarge) {
					t.Fatalf("err %v, want errTooLarge", err)
				}
				return
			}
			if err != nil || string(got) != tt.body {
				t.Fatalf("read %d bytes, %v; want the %d sent", len(got), err, len(tt.body))
			}
		})
	}
}
