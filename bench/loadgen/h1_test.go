package loadgen

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		head   bool
		status int
		n      int64
		keep   bool
		err    error // nil: success
	}{
		{"ok/content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, 200, 5, true, nil},
		{"ok/no-reason", "HTTP/1.1 204\r\n\r\n", false, 204, 0, true, nil},
		{"ok/case", "HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh: 2\r\n\r\nhi", false, 200, 2, true, nil},
		{"ok/chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n", false, 200, 15, true, nil},
		{"ok/interim", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx", false, 201, 1, true, nil},
		{"ok/close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", false, 200, 1, false, nil},
		{"ok/http10", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", false, 200, 1, false, nil},
		{"ok/http10-keep-alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx", false, 200, 1, true, nil},
		{"ok/to-eof", "HTTP/1.1 200 OK\r\n\r\nuntil the end", false, 200, 13, false, nil},
		{"ok/head", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", true, 200, 0, true, nil},
		{"ok/error-status", "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", false, 403, 0, true, nil},
		{"fail/not-http", "SSH-2.0-OpenSSH\r\n\r\n", false, 0, 0, false, errProtocol},
		{"fail/bad-status", "HTTP/1.1 2x0 OK\r\n\r\n", false, 0, 0, false, errProtocol},
		{"fail/long-status", "HTTP/1.1 2000 OK\r\n\r\n", false, 0, 0, false, errProtocol},
		{"fail/header-no-colon", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", false, 0, 0, false, errProtocol},
		{"fail/negative-length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, 0, 0, false, errProtocol},
		{"fail/conflicting-length", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", false, 0, 0, false, errProtocol},
		{"fail/truncated-body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", false, 0, 3, false, io.ErrUnexpectedEOF},
		{"fail/truncated-headers", "HTTP/1.1 200 OK\r\nContent-Le", false, 0, 0, false, io.ErrUnexpectedEOF},
		{"fail/bad-chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, 0, 0, false, errProtocol},
		{"fail/chunk-no-crlf", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n", false, 0, 1, false, errProtocol},
		{"fail/truncated-chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", false, 0, 2, false, io.ErrUnexpectedEOF},
		{"fail/empty", "", false, 0, 0, false, io.EOF},
		{"fail/huge-line", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 70000) + "\r\n\r\n", false, 0, 0, false, errProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tt.in), 32<<10)
			status, n, keep, err := readResponse(br, tt.head)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				if keep {
					t.Error("a failed response leaves the connection reusable")
				}
				if n != tt.n {
					t.Errorf("n = %d, want %d", n, tt.n)
				}
				return
			}
			if err != nil || status != tt.status || n != tt.n || keep != tt.keep {
				t.Errorf("got status %d n %d keep %v err %v; want %d %d %v", status, n, keep, err, tt.status, tt.n, tt.keep)
			}
		})
	}
}

// Two responses back to back on one connection are read one at a time.
func TestReadResponsePipelined(t *testing.T) {
	in := "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"
	br := bufio.NewReader(strings.NewReader(in))
	for _, want := range []int{200, 404} {
		status, _, keep, err := readResponse(br, false)
		if err != nil || status != want || !keep {
			t.Fatalf("status %d keep %v err %v, want %d", status, keep, err, want)
		}
	}
}

func TestH1RequestBytes(t *testing.T) {
	u := mustURL(t, "https://localhost:9443/fhir/Patient?_id=p-0001")
	r := newRunner(Config{URL: u.String(), Method: "POST", Body: []byte("{}"), ContentType: "application/fhir+json",
		Concurrency: 1, Handshake: true, Header: map[string][]string{"X-B": {"2"}, "X-A": {"1"}}}, u)
	want := "POST /fhir/Patient?_id=p-0001 HTTP/1.1\r\nHost: localhost:9443\r\nUser-Agent: crgate-load\r\n" +
		"Content-Type: application/fhir+json\r\nX-A: 1\r\nX-B: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
	if got := string(r.h1Request()); got != want {
		t.Errorf("request\n%q\nwant\n%q", got, want)
	}
}
