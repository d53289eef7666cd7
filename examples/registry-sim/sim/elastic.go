package sim

import (
	"net/http"
	"strconv"
	"strings"
)

var (
	esProduct = []string{"Elasticsearch"}
	ctESText  = []string{"text/plain; charset=UTF-8"}
)

const esAck = `{"acknowledged":true}`

// esRoots are the top-level Elasticsearch APIs the simulator answers:
// DOMAIN.md's list of what must never be reachable, plus search.
var esRoots = map[string]bool{
	"_cluster": true, "_cat": true, "_nodes": true, "_snapshot": true, "_shutdown": true,
	"_scripts": true, "_ingest": true, "_tasks": true, "_security": true, "_license": true,
	"_watcher": true, "_bulk": true, "_reindex": true, "_search": true, "_all": true,
	"_msearch": true, "_count": true, "_mget": true, "_aliases": true, "_mapping": true,
	"_settings": true, "_stats": true, "_refresh": true, "_flush": true,
}

// elastic answers Elasticsearch's REST API with small ES 8-shaped bodies.
func (g *Registry) elastic(w http.ResponseWriter, r *http.Request, p string) bool {
	if len(p) < 2 || p[0] != '/' {
		return false
	}
	first, rest, _ := strings.Cut(p[1:], "/")
	sub, _, _ := strings.Cut(rest, "/")
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	if esRoots[first] {
		w.Header()["X-Elastic-Product"] = esProduct
		g.esRoot(w, r, method, first, rest)
		return true
	}
	if first == "" || first[0] == '_' {
		return false
	}
	index := first
	switch {
	case rest == "":
		// "/{index}": DELETE and PUT for any name (that is how "/patients",
		// "/*" and friends get wiped or created); GET only for the index
		// OpenCR really has, anything else is the catch-all 404.
		switch {
		case method == http.MethodDelete || method == http.MethodPut:
			w.Header()["X-Elastic-Product"] = esProduct
			if method == http.MethodPut {
				esJSON(w, `{"acknowledged":true,"shards_acknowledged":true,"index":`+quote(index)+`}`)
			} else {
				esJSON(w, esAck)
			}
			return true
		case index == "patients" && method == http.MethodGet:
			w.Header()["X-Elastic-Product"] = esProduct
			esJSON(w, esIndexInfo)
			return true
		}
		return false
	case strings.HasPrefix(sub, "_"):
		w.Header()["X-Elastic-Product"] = esProduct
		g.esIndexAPI(w, method, index, sub)
		return true
	}
	return false
}

func esJSON(w http.ResponseWriter, body string) { writeJSON(w, http.StatusOK, ctJSON, body) }

func quote(s string) string { return string(appendJSONString(nil, s)) }

const esIndexInfo = `{"patients":{"aliases":{},"mappings":{"properties":{"given":{"type":"text"},"family":{"type":"text"},"gender":{"type":"keyword"},"birthDate":{"type":"date"},"fhirId":{"type":"keyword"}}},"settings":{"index":{"number_of_shards":"1","number_of_replicas":"0","provided_name":"patients","uuid":"sImReG1sTrYpAtIeNtS0x1","version":{"created":"8150099"}}}}}`

func (g *Registry) esRoot(w http.ResponseWriter, r *http.Request, method, first, rest string) {
	switch first {
	case "_cluster":
		switch {
		case rest == "health" || strings.HasPrefix(rest, "health/"):
			esJSON(w, `{"cluster_name":"opencr","status":"green","timed_out":false,"number_of_nodes":1,"number_of_data_nodes":1,"active_primary_shards":1,"active_shards":1,"relocating_shards":0,"initializing_shards":0,"unassigned_shards":0,"delayed_unassigned_shards":0,"number_of_pending_tasks":0,"number_of_in_flight_fetch":0,"task_max_waiting_in_queue_millis":0,"active_shards_percent_as_number":100.0}`)
		case rest == "settings" && method == http.MethodGet:
			esJSON(w, `{"persistent":{},"transient":{}}`)
		case rest == "settings":
			esJSON(w, `{"acknowledged":true,"persistent":{},"transient":{}}`)
		case rest == "state" || strings.HasPrefix(rest, "state/"):
			esJSON(w, `{"cluster_name":"opencr","cluster_uuid":"c1uSt3r-registry-sim","master_node":"sim-node-1","metadata":{"indices":{"patients":{"state":"open"}}}}`)
		default:
			esJSON(w, `{"acknowledged":true,"cluster_name":"opencr"}`)
		}
	case "_cat":
		esCat(w, r, rest)
	case "_nodes":
		esJSON(w, `{"_nodes":{"total":1,"successful":1,"failed":0},"cluster_name":"opencr","nodes":{"sim-node-1":{"name":"es01","transport_address":"127.0.0.1:9300","host":"127.0.0.1","ip":"127.0.0.1","version":"8.15.0","roles":["data","ingest","master"]}}}`)
	case "_snapshot":
		switch {
		case method == http.MethodGet:
			esJSON(w, `{}`)
		case strings.Contains(rest, "/"):
			esJSON(w, `{"accepted":true}`)
		default:
			esJSON(w, esAck)
		}
	case "_scripts":
		if method == http.MethodGet && rest != "" {
			// OpenCR stores a painless script for its matching; the body
			// is a stand-in.
			esJSON(w, `{"_id":`+quote(rest)+`,"found":true,"script":{"lang":"painless","source":"// registry-sim stored script\nreturn params._source;"}}`)
		} else {
			esJSON(w, esAck)
		}
	case "_ingest":
		if method == http.MethodGet {
			esJSON(w, `{}`)
		} else {
			esJSON(w, esAck)
		}
	case "_tasks":
		esJSON(w, `{"nodes":{}}`)
	case "_security":
		if rest == "_authenticate" {
			esJSON(w, `{"username":"elastic","roles":["superuser"],"full_name":null,"email":null,"metadata":{},"enabled":true,"authentication_realm":{"name":"reserved","type":"reserved"},"lookup_realm":{"name":"reserved","type":"reserved"},"authentication_type":"realm"}`)
		} else if method == http.MethodGet {
			esJSON(w, `{"elastic":{"username":"elastic","roles":["superuser"],"enabled":true}}`)
		} else {
			esJSON(w, esAck)
		}
	case "_license":
		esJSON(w, `{"license":{"status":"active","uid":"51m-l1c3n5e","type":"basic","issue_date":"2024-01-01T00:00:00.000Z","issue_date_in_millis":1704067200000,"max_nodes":1000,"issued_to":"opencr","issuer":"elasticsearch","start_date_in_millis":-1}}`)
	case "_bulk":
		esJSON(w, `{"took":3,"errors":false,"items":[]}`)
	case "_reindex":
		esJSON(w, `{"took":12,"timed_out":false,"total":0,"updated":0,"created":0,"deleted":0,"batches":0,"version_conflicts":0,"noops":0,"retries":{"bulk":0,"search":0},"throttled_millis":0,"requests_per_second":-1.0,"throttled_until_millis":0,"failures":[]}`)
	case "_search", "_msearch":
		writeBytes(w, http.StatusOK, ctJSON, g.esHits)
	case "_count":
		esJSON(w, `{"count":`+strconv.Itoa(len(g.patients))+`,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0}}`)
	case "_all":
		g.esAll(w, method, rest)
	default:
		// _shutdown, _watcher, _mget, _aliases, _mapping, _settings, _stats,
		// _refresh, _flush.
		if method == http.MethodGet {
			esJSON(w, `{"cluster_name":"opencr","`+first[1:]+`":{}}`)
		} else {
			esJSON(w, esAck)
		}
	}
}

// esAll is "/_all" and "/_all/…", the every-index wildcard.
func (g *Registry) esAll(w http.ResponseWriter, method, rest string) {
	switch {
	case rest == "" && method == http.MethodGet:
		esJSON(w, esIndexInfo)
	case rest == "":
		esJSON(w, esAck)
	default:
		sub, _, _ := strings.Cut(rest, "/")
		g.esIndexAPI(w, method, "_all", sub)
	}
}

// esIndexAPI answers "/{index}/_op".
func (g *Registry) esIndexAPI(w http.ResponseWriter, method, index, op string) {
	switch op {
	case "_search", "_msearch":
		writeBytes(w, http.StatusOK, ctJSON, g.esHits)
	case "_count":
		esJSON(w, `{"count":`+strconv.Itoa(len(g.patients))+`,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0}}`)
	case "_delete_by_query":
		esJSON(w, `{"took":5,"timed_out":false,"total":0,"deleted":0,"batches":0,"version_conflicts":0,"noops":0,"retries":{"bulk":0,"search":0},"throttled_millis":0,"requests_per_second":-1.0,"throttled_until_millis":0,"failures":[]}`)
	case "_update_by_query":
		esJSON(w, `{"took":5,"timed_out":false,"total":0,"updated":0,"deleted":0,"batches":0,"version_conflicts":0,"noops":0,"retries":{"bulk":0,"search":0},"throttled_millis":0,"requests_per_second":-1.0,"throttled_until_millis":0,"failures":[]}`)
	case "_forcemerge", "_refresh", "_flush":
		esJSON(w, `{"_shards":{"total":1,"successful":1,"failed":0}}`)
	case "_close":
		esJSON(w, `{"acknowledged":true,"shards_acknowledged":true,"indices":{`+quote(index)+`:{"closed":true}}}`)
	case "_open":
		esJSON(w, `{"acknowledged":true,"shards_acknowledged":true}`)
	case "_doc", "_create", "_update":
		esJSON(w, `{"_index":`+quote(index)+`,"_id":"sim-1","_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1}`)
	case "_mapping", "_settings", "_alias", "_aliases", "_stats":
		if method == http.MethodGet {
			esJSON(w, esIndexInfo)
		} else {
			esJSON(w, esAck)
		}
	case "_bulk":
		esJSON(w, `{"took":3,"errors":false,"items":[]}`)
	default:
		esJSON(w, `{"acknowledged":true,"index":`+quote(index)+`}`)
	}
}

// esCat answers the _cat APIs in their default text form, or JSON with
// ?format=json.
func esCat(w http.ResponseWriter, r *http.Request, rest string) {
	asJSON := strings.Contains(r.URL.RawQuery, "format=json")
	switch rest {
	case "":
		writeJSON(w, http.StatusOK, ctESText, "=^.^=\n/_cat/allocation\n/_cat/shards\n/_cat/nodes\n/_cat/indices\n/_cat/health\n/_cat/count\n")
	case "indices":
		if asJSON {
			esJSON(w, `[{"health":"green","status":"open","index":"patients","uuid":"sImReG1sTrYpAtIeNtS0x1","pri":"1","rep":"0","docs.count":"40","docs.deleted":"0","store.size":"120kb","pri.store.size":"120kb"}]`)
		} else {
			writeJSON(w, http.StatusOK, ctESText, "green open patients sImReG1sTrYpAtIeNtS0x1 1 0 40 0 120kb 120kb\n")
		}
	case "health":
		if asJSON {
			esJSON(w, `[{"epoch":"1735689600","timestamp":"00:00:00","cluster":"opencr","status":"green","node.total":"1","node.data":"1","shards":"1","pri":"1","relo":"0","init":"0","unassign":"0","pending_tasks":"0","active_shards_percent":"100.0%"}]`)
		} else {
			writeJSON(w, http.StatusOK, ctESText, "1735689600 00:00:00 opencr green 1 1 1 1 0 0 0 0 - 100.0%\n")
		}
	case "nodes":
		writeJSON(w, http.StatusOK, ctESText, "127.0.0.1 23 97 3 0.10 0.12 0.09 dim * es01\n")
	default:
		if asJSON {
			esJSON(w, `[]`)
		} else {
			writeJSON(w, http.StatusOK, ctESText, "registry-sim "+rest+"\n")
		}
	}
}

// esSearchHits is the precomputed answer to every _search: the first ten
// patients as OpenCR indexes them.
func esSearchHits(pats []*patient) []byte {
	b := []byte(`{"took":2,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},"hits":{"total":{"value":`)
	b = strconv.AppendInt(b, int64(len(pats)), 10)
	b = append(b, `,"relation":"eq"},"max_score":1.0,"hits":[`...)
	for i, p := range pats[:min(10, len(pats))] {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"_index":"patients","_id":`...)
		b = appendJSONString(b, p.id)
		b = append(b, `,"_score":1.0,"_source":{"fhirId":`...)
		b = appendJSONString(b, p.id)
		b = append(b, `,"family":`...)
		b = appendJSONString(b, p.familyExact)
		b = append(b, `,"given":`...)
		b = appendJSONString(b, strings.Join(p.givensExact, " "))
		b = append(b, `,"gender":`...)
		b = appendJSONString(b, p.gender)
		b = append(b, `,"birthDate":`...)
		b = appendJSONString(b, p.birthDate)
		b = append(b, `}}`...)
	}
	return append(b, `]}}`...)
}
