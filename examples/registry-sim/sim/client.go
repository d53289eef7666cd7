package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// controlClient talks to the control API only, which is always on
// loopback: no proxy from the environment, whatever the test machine says.
var controlClient = &http.Client{Transport: &http.Transport{
	Proxy:               nil,
	MaxIdleConnsPerHost: 4,
	IdleConnTimeout:     30 * time.Second,
}}

// controlBase accepts "http://127.0.0.1:3099", "127.0.0.1:3099" or either
// with a trailing slash.
func controlBase(controlURL string) string {
	u := strings.TrimRight(controlURL, "/")
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	return u
}

func controlDo(ctx context.Context, method, controlURL, pathQuery string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, controlBase(controlURL)+pathQuery, nil)
	if err != nil {
		return nil, fmt.Errorf("registry-sim control %s %s: %w", method, pathQuery, err)
	}
	resp, err := controlClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("registry-sim control %s %s: %w", method, pathQuery, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("registry-sim control %s %s: reading response: %w", method, pathQuery, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("registry-sim control %s %s: %s: %s", method, pathQuery, resp.Status, strings.TrimSpace(string(body[:min(len(body), 512)])))
	}
	return body, nil
}

// Records returns every recorded request, oldest first.
func Records(ctx context.Context, controlURL string) ([]Record, error) {
	return RecordsSince(ctx, controlURL, 0)
}

// RecordsSince returns the recorded requests with Seq greater than seq.
func RecordsSince(ctx context.Context, controlURL string, seq int64) ([]Record, error) {
	body, err := controlDo(ctx, http.MethodGet, controlURL, "/records?since="+strconv.FormatInt(seq, 10))
	if err != nil {
		return nil, err
	}
	var recs []Record
	if err := json.Unmarshal(body, &recs); err != nil {
		return nil, fmt.Errorf("registry-sim control GET /records: decoding: %w", err)
	}
	return recs, nil
}

// Reset forgets every recorded request. Sequence numbers carry on.
func Reset(ctx context.Context, controlURL string) error {
	_, err := controlDo(ctx, http.MethodDelete, controlURL, "/records")
	return err
}

// FailNext makes the next count requests to the registry surface answer
// status (400-599) with an OperationOutcome. It replaces any pending
// failure; count 0 cancels it.
func FailNext(ctx context.Context, controlURL string, status, count int) error {
	_, err := controlDo(ctx, http.MethodPost, controlURL,
		"/fail-next?"+url.Values{"status": {strconv.Itoa(status)}, "count": {strconv.Itoa(count)}}.Encode())
	return err
}

// DelayNext makes the next count requests wait d (at most MaxDelay, in
// whole milliseconds) before they are answered. It replaces any pending
// delay; count 0 cancels it.
func DelayNext(ctx context.Context, controlURL string, d time.Duration, count int) error {
	_, err := controlDo(ctx, http.MethodPost, controlURL,
		"/delay-next?"+url.Values{"ms": {strconv.FormatInt(d.Milliseconds(), 10)}, "count": {strconv.Itoa(count)}}.Encode())
	return err
}

// Health checks GET /health once.
func Health(ctx context.Context, controlURL string) error {
	_, err := controlDo(ctx, http.MethodGet, controlURL, "/health")
	return err
}

// WaitHealthy polls GET /health until it answers or ctx ends.
func WaitHealthy(ctx context.Context, controlURL string) error {
	for {
		err := Health(ctx, controlURL)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("registry-sim not healthy: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Addrs is the content of the --addr-file: the addresses both listeners
// actually bound, which matters when they were asked for port 0.
type Addrs struct {
	Listen  string `json:"listen"`
	Control string `json:"control"`
}

// ListenURL is the registry surface's base URL.
func (a Addrs) ListenURL() string { return "http://" + a.Listen }

// ControlURL is the control API's base URL.
func (a Addrs) ControlURL() string { return "http://" + a.Control }

// ReadAddrFile reads an --addr-file.
func ReadAddrFile(path string) (Addrs, error) {
	var a Addrs
	b, err := os.ReadFile(path)
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("addr file %s: %w", path, err)
	}
	if a.Listen == "" || a.Control == "" {
		return a, fmt.Errorf("addr file %s: listen or control missing", path)
	}
	return a, nil
}

// WaitAddrFile polls for the --addr-file of a simulator that is starting.
// The file is written atomically once both listeners are bound, so the
// first successful read is final.
func WaitAddrFile(ctx context.Context, path string) (Addrs, error) {
	for {
		a, err := ReadAddrFile(path)
		if err == nil {
			return a, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return a, err
		}
		select {
		case <-ctx.Done():
			return a, fmt.Errorf("waiting for %s: %w", path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
