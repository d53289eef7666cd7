package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newReg(t testing.TB, o Options) *Registry {
	t.Helper()
	g, err := NewRegistry(o)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	return g
}

// serve runs one request through h in memory. hdr is name, value pairs. A
// path target gets Host registry.test; an absolute one keeps its own.
func serve(h http.Handler, method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	if strings.HasPrefix(target, "/") {
		r.Host = "registry.test"
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

type testBundle struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Total        *int   `json:"total"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
		Search   *struct {
			Mode  string  `json:"mode"`
			Score float64 `json:"score"`
		} `json:"search"`
		Response *struct {
			Status   string          `json:"status"`
			Location string          `json:"location"`
			Etag     string          `json:"etag"`
			Outcome  json.RawMessage `json:"outcome"`
		} `json:"response"`
	} `json:"entry"`
}

func decodeBundle(t *testing.T, w *httptest.ResponseRecorder) testBundle {
	t.Helper()
	var b testBundle
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("decoding Bundle: %v\n%s", err, w.Body.String())
	}
	if b.ResourceType != "Bundle" {
		t.Fatalf("resourceType = %q, want Bundle\n%s", b.ResourceType, w.Body.String())
	}
	return b
}

func (b testBundle) link(rel string) string {
	for _, l := range b.Link {
		if l.Relation == rel {
			return l.URL
		}
	}
	return ""
}

func (b testBundle) ids(t *testing.T) []string {
	t.Helper()
	var ids []string
	for _, e := range b.Entry {
		var r struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(e.Resource, &r); err != nil {
			t.Fatalf("entry resource: %v", err)
		}
		ids = append(ids, r.ID)
	}
	return ids
}

// population decodes the current version of every synthetic patient, so
// tests can compute expected search results independently of the search
// code.
func population(t *testing.T, g *Registry) []fhirPatient {
	t.Helper()
	var out []fhirPatient
	for _, p := range g.patients {
		var fp fhirPatient
		if err := json.Unmarshal(p.current().json, &fp); err != nil {
			t.Fatalf("patient %s: %v", p.id, err)
		}
		out = append(out, fp)
	}
	return out
}

func diagnostics(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Diagnostics string `json:"diagnostics"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		t.Fatalf("not an OperationOutcome (%v): %s", err, w.Body.String())
	}
	return oo.Issue[0].Diagnostics
}
