package sim

import (
	"net/url"
	"strings"
	"sync"
	"unicode/utf8"
)

// appendJSONString appends s as a JSON string literal. The hot paths build
// Bundles by appending precomputed resource bytes, so they need an escaper
// that does not allocate; values come from request hosts and query
// strings, which a client controls.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

// appendEscaped appends s escaped for use inside a JSON string literal,
// without the quotes, so a URL can be assembled from several pieces.
func appendEscaped(b []byte, s string) []byte {
	const hexdigits = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexdigits[c>>4], hexdigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// foldString lowers s and strips the accents of the Latin letters the
// synthetic names use, because FHIR string search is case- and
// accent-insensitive ("muller" finds "Müller"). It returns s itself when
// there is nothing to fold, so typical ASCII queries cost nothing.
func foldString(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s))
	for _, r := range s {
		sb.WriteRune(foldRune(r))
	}
	return sb.String()
}

func foldRune(r rune) rune {
	switch r {
	case 'à', 'á', 'â', 'ã', 'ä', 'å', 'À', 'Á', 'Â', 'Ã', 'Ä', 'Å':
		return 'a'
	case 'ç', 'Ç':
		return 'c'
	case 'è', 'é', 'ê', 'ë', 'È', 'É', 'Ê', 'Ë':
		return 'e'
	case 'ì', 'í', 'î', 'ï', 'Ì', 'Í', 'Î', 'Ï':
		return 'i'
	case 'ñ', 'Ñ':
		return 'n'
	case 'ò', 'ó', 'ô', 'õ', 'ö', 'Ò', 'Ó', 'Ô', 'Õ', 'Ö':
		return 'o'
	case 'ù', 'ú', 'û', 'ü', 'Ù', 'Ú', 'Û', 'Ü':
		return 'u'
	}
	if 'A' <= r && r <= 'Z' {
		return r + ('a' - 'A')
	}
	return r
}

// paramIter walks an application/x-www-form-urlencoded string (a URL query
// or a POST _search body) without building a url.Values map: search is the
// hottest path and most queries need no unescaping at all.
type paramIter struct {
	s string
}

// next returns the next key/value pair. ok is false at the end; err is set
// when a pair is not valid percent-encoding.
func (it *paramIter) next() (key, value string, ok bool, err error) {
	for it.s != "" {
		var pair string
		pair, it.s, _ = strings.Cut(it.s, "&")
		if pair == "" {
			continue
		}
		key, value, _ = strings.Cut(pair, "=")
		if key, err = unescapeForm(key); err != nil {
			return "", "", false, err
		}
		if value, err = unescapeForm(value); err != nil {
			return "", "", false, err
		}
		return key, value, true, nil
	}
	return "", "", false, nil
}

func unescapeForm(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, nil
	}
	return url.QueryUnescape(s)
}

// hasPathPrefix reports whether p is prefix or lies below it, so that
// "/cssx" does not count as under "/css".
func hasPathPrefix(p, prefix string) bool {
	if len(p) < len(prefix) || p[:len(prefix)] != prefix {
		return false
	}
	return len(p) == len(prefix) || p[len(prefix)] == '/'
}

// bufPool holds response buffers for the Bundle builders. Benchmarks push
// tens of thousands of searches a second through the simulator; without a
// pool each one would allocate and grow a ~12 KB slice.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 16<<10)
	return &b
}}

func getBuf() *[]byte {
	if b, ok := bufPool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 16<<10)
	return &b
}

func putBuf(b *[]byte) {
	// A batch response or a 100-entry search can grow a buffer far past the
	// typical size; keeping those would pin the memory forever.
	if cap(*b) > 1<<20 {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
