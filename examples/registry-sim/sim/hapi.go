package sim

import (
	"html"
	"net/http"
	"path"
	"strings"
)

// testerPages are the HAPI FHIR web testing UI's pages (the testpage
// overlay), keyed by path, with the name each page's title carries.
var testerPages = map[string]string{
	"/":               "home",
	"/home":           "home",
	"/about":          "about",
	"/conformance":    "conformance",
	"/create":         "create",
	"/delete":         "delete",
	"/history-server": "history-server",
	"/history-type":   "history-type",
	"/page":           "page",
	"/read":           "read",
	"/resource":       "resource",
	"/search":         "search",
	"/transaction":    "transaction",
	"/update":         "update",
	"/validate":       "validate",
	"/get-tags":       "get-tags",
}

// testerPageBodies are rendered once: they never change.
var testerPageBodies = func() map[string][]byte {
	m := make(map[string][]byte, len(testerPages))
	for p, name := range testerPages {
		m[p] = htmlPage("HAPI FHIR tester: "+name, "Simulated HAPI FHIR web testing UI page "+p+".")
	}
	return m
}()

func htmlPage(title, text string) []byte {
	t := html.EscapeString(title)
	return []byte("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + t +
		"</title></head>\n<body><h1>" + t + "</h1><p>" + html.EscapeString(text) +
		"</p><p>registry-sim: this page should never be reachable through the gateway.</p></body></html>\n")
}

var staticPrefixes = [...]string{"/css", "/fa", "/fonts", "/img", "/js", "/resources"}

// staticTypes maps the extensions the testpage overlay serves. A fixed
// table rather than mime.TypeByExtension, whose answers depend on the
// host's mime.types.
var staticTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".png":   "image/png",
	".gif":   "image/gif",
	".jpg":   "image/jpeg",
	".svg":   "image/svg+xml",
	".ico":   "image/x-icon",
	".woff":  "font/woff",
	".woff2": "font/woff2",
	".ttf":   "font/ttf",
	".eot":   "application/vnd.ms-fontobject",
	".map":   "application/json",
	".html":  "text/html; charset=utf-8",
}

// ActuatorSecret is a fake datasource password that /actuator/env
// discloses, as a Spring Boot starter with management endpoints exposed
// would. Seeing it in any response that came through the gateway is a leak.
const ActuatorSecret = "registry-sim-actuator-secret-must-not-leak"

// hapiExtra answers the starter's non-FHIR endpoints that live below a
// FHIR base: the OpenAPI document and Swagger UI. rest is the path below
// the base.
func hapiExtra(w http.ResponseWriter, r *http.Request, rest string) bool {
	switch {
	case rest == "/api-docs" || strings.HasPrefix(rest, "/api-docs/"):
		writeJSON(w, http.StatusOK, ctJSON, `{"openapi":"3.0.1","info":{"title":"HAPI FHIR Server","version":"8.4.0"},"servers":[{"url":"/fhir"}],"paths":{"/Patient":{"get":{"summary":"search-type: Search for Patient instances"}},"/Patient/{id}":{"get":{"summary":"read-instance: Read Patient instance"}}}}`)
		return true
	case hasPathPrefix(rest, "/swagger-ui"):
		writeBytes(w, http.StatusOK, ctHTML, htmlPage("Swagger UI", "Simulated HAPI FHIR Swagger UI "+r.URL.Path+"."))
		return true
	}
	return false
}

// hapiUI answers the testing UI, its static files and the starter's other
// non-FHIR endpoints. Any method is answered: the testpage forms POST, and
// a gateway that lets one method through should be caught either way.
func hapiUI(w http.ResponseWriter, r *http.Request, p string) bool {
	if body, ok := testerPageBodies[p]; ok {
		writeBytes(w, http.StatusOK, ctHTML, body)
		return true
	}
	for _, sp := range staticPrefixes {
		if hasPathPrefix(p, sp) {
			ct, ok := staticTypes[path.Ext(p)]
			if !ok {
				ct = "application/octet-stream"
			}
			body := "/* registry-sim: simulated HAPI FHIR testpage static file " + p + " */\n"
			if strings.HasPrefix(ct, "text/html") {
				body = string(htmlPage("HAPI FHIR tester: static", p))
			}
			writeJSON(w, http.StatusOK, []string{ct}, body)
			return true
		}
	}
	switch {
	case hasPathPrefix(p, "/actuator"):
		actuator(w, p)
	case hasPathPrefix(p, "/mcp"):
		writeJSON(w, http.StatusOK, ctJSON, `{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-03-26","serverInfo":{"name":"hapi-fhir-mcp","version":"8.4.0"},"capabilities":{"tools":{}},"tools":[{"name":"search","description":"Search FHIR resources (simulated)"}]}}`)
	case p == "/sse":
		// One event, then close: a real SSE stream stays open, which would
		// only make tests hang.
		writeJSON(w, http.StatusOK, []string{"text/event-stream"}, "event: endpoint\ndata: /mcp/message?sessionId=registry-sim\n\n")
	case hasPathPrefix(p, "/cds-services"):
		if r.Method == http.MethodPost {
			writeJSON(w, http.StatusOK, ctJSON, `{"cards":[]}`)
		} else {
			writeJSON(w, http.StatusOK, ctJSON, `{"services":[{"hook":"patient-view","id":"registry-sim","title":"Simulated CDS service","description":"registry-sim"}]}`)
		}
	case hasPathPrefix(p, "/content"):
		writeBytes(w, http.StatusOK, ctHTML, htmlPage("HAPI FHIR content", "Simulated HAPI FHIR content "+p+"."))
	case hasPathPrefix(p, "/web"):
		writeBytes(w, http.StatusOK, ctHTML, htmlPage("HAPI FHIR web", "Simulated HAPI FHIR web "+p+"."))
	default:
		return false
	}
	return true
}

var ctActuator = []string{"application/vnd.spring-boot.actuator.v3+json"}

// actuator answers Spring Boot's management endpoints. /actuator/env
// carries ActuatorSecret so a test can assert it never comes back through
// the gateway.
func actuator(w http.ResponseWriter, p string) {
	switch p {
	case "/actuator":
		writeJSON(w, http.StatusOK, ctActuator, `{"_links":{"self":{"href":"/actuator"},"health":{"href":"/actuator/health"},"env":{"href":"/actuator/env"},"info":{"href":"/actuator/info"},"metrics":{"href":"/actuator/metrics"}}}`)
	case "/actuator/health":
		writeJSON(w, http.StatusOK, ctActuator, `{"status":"UP","components":{"db":{"status":"UP","details":{"database":"PostgreSQL"}},"diskSpace":{"status":"UP"},"ping":{"status":"UP"}}}`)
	case "/actuator/env":
		writeJSON(w, http.StatusOK, ctActuator, `{"activeProfiles":[],"propertySources":[{"name":"applicationConfig: [classpath:/application.yaml]","properties":{"spring.datasource.url":{"value":"jdbc:postgresql://hapi-db:5432/hapi"},"spring.datasource.username":{"value":"admin"},"spring.datasource.password":{"value":"`+ActuatorSecret+`"},"hapi.fhir.fhir_version":{"value":"R4"}}}]}`)
	default:
		b := []byte(`{"endpoint":`)
		b = appendJSONString(b, strings.TrimPrefix(p, "/actuator/"))
		b = append(b, `,"status":"UP"}`...)
		writeBytes(w, http.StatusOK, ctActuator, b)
	}
}
