package sim

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ControlHandler is the control API. It must only ever be served on its
// own loopback listener: anything that could reach it through the gateway
// could read or erase the evidence the tests rely on.
//
//	GET    /records[?since=SEQ]  recorded requests, oldest first
//	DELETE /records              forget them (sequence numbers carry on)
//	GET    /health               200 "ok"
//	POST   /fail-next?status=S&count=N  the next N requests answer S
//	POST   /delay-next?ms=M&count=N     the next N requests wait M ms
func (g *Registry) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /records", g.getRecords)
	mux.HandleFunc("DELETE /records", func(w http.ResponseWriter, r *http.Request) {
		g.ResetRecords()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("POST /fail-next", g.postFailNext)
	mux.HandleFunc("POST /delay-next", g.postDelayNext)
	return loopbackHostOnly(mux)
}

// loopbackHostOnly refuses requests whose Host is not a loopback name, so a
// web page in a browser on the same machine cannot reach the control API
// through DNS rebinding.
func loopbackHostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if !strings.EqualFold(host, "localhost") {
			ip, err := netip.ParseAddr(host)
			if err != nil || !ip.Unmap().IsLoopback() {
				http.Error(w, "control API: Host must be a loopback address", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (g *Registry) getRecords(w http.ResponseWriter, r *http.Request) {
	var after int64
	if s := r.URL.Query().Get("since"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "since: not a sequence number: "+strconv.Quote(s), http.StatusBadRequest)
			return
		}
		after = n
	}
	recs, last, dropped := g.rec.since(after)
	for i := range recs {
		if recs[i].Headers == nil {
			recs[i].Headers = map[string][]string{}
		}
	}
	body, err := json.Marshal(recs)
	if err != nil {
		http.Error(w, "encoding records: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Records-Last-Seq", strconv.FormatInt(last, 10))
	h.Set("X-Records-Dropped", strconv.FormatInt(dropped, 10))
	h.Set("X-Records-Enabled", strconv.FormatBool(g.record))
	_, _ = w.Write(body)
}

// intParam reads an integer query parameter, def when absent.
func intParam(r *http.Request, name string, def int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s: not an integer: %q", name, s)
	}
	return n, nil
}

func (g *Registry) postFailNext(w http.ResponseWriter, r *http.Request) {
	status, err := intParam(r, "status", http.StatusInternalServerError)
	if err == nil {
		var count int
		if count, err = intParam(r, "count", 1); err == nil {
			if err = g.FailNext(status, count); err == nil {
				writeJSON(w, http.StatusOK, ctJSON, `{"status":`+strconv.Itoa(status)+`,"count":`+strconv.Itoa(count)+`}`)
				return
			}
		}
	}
	http.Error(w, "fail-next: "+err.Error(), http.StatusBadRequest)
}

func (g *Registry) postDelayNext(w http.ResponseWriter, r *http.Request) {
	ms, err := intParam(r, "ms", -1)
	if err == nil && (ms < 0 || int64(ms) > MaxDelay.Milliseconds()) {
		err = fmt.Errorf("ms: required, 0..%d", MaxDelay.Milliseconds())
	}
	if err == nil {
		var count int
		if count, err = intParam(r, "count", 1); err == nil {
			if err = g.DelayNext(time.Duration(ms)*time.Millisecond, count); err == nil {
				writeJSON(w, http.StatusOK, ctJSON, `{"ms":`+strconv.Itoa(ms)+`,"count":`+strconv.Itoa(count)+`}`)
				return
			}
		}
	}
	http.Error(w, "delay-next: "+err.Error(), http.StatusBadRequest)
}
