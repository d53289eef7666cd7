package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"time"
)

// HTTP/1.1 is spoken by hand rather than through net/http: the request is
// serialised once and every response parsed in place, which costs the
// load generator a fraction of what net/http's client does per request
// (measured ~75 µs with net/http). On this 2-core machine the load
// generator shares its core with the upstream, so a heavy client would cap
// every proxy at the client's speed and hide the differences between them.

// errProtocol marks a response this client cannot parse.
var errProtocol = errors.New("malformed HTTP/1.1 response")

// h1Request serialises the run's request: every worker sends these bytes.
func (r *runner) h1Request() []byte {
	var b bytes.Buffer
	b.WriteString(r.cfg.Method + " " + r.url.RequestURI() + " HTTP/1.1\r\n")
	b.WriteString("Host: " + r.url.Host + "\r\n")
	b.WriteString("User-Agent: crgate-load\r\n")
	h := r.header()
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, v := range h[name] {
			b.WriteString(name + ": " + v + "\r\n")
		}
	}
	if r.cfg.Body != nil {
		b.WriteString("Content-Length: " + strconv.Itoa(len(r.cfg.Body)) + "\r\n")
	}
	if r.cfg.Handshake {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	b.Write(r.cfg.Body)
	return b.Bytes()
}

// h1Doer is a worker's HTTP/1.1 connection: kept alive across requests,
// or (oneShot) opened, handshaken and closed for each.
type h1Doer struct {
	r       *runner
	req     []byte
	oneShot bool
	conn    net.Conn
	br      *bufio.Reader
}

func (d *h1Doer) connect(ctx context.Context) error {
	u := d.r.url
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	conn, err := d.r.dial(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return err
	}
	if u.Scheme == "https" {
		tc := tls.Client(conn, d.r.tls)
		// A deadline rather than HandshakeContext: with a cancellable
		// context crypto/tls starts a goroutine per handshake to watch it.
		_ = conn.SetDeadline(d.deadline(ctx))
		if err := tc.Handshake(); err != nil {
			conn.Close()
			return err
		}
		conn = tc
	}
	d.conn = conn
	if d.br == nil {
		d.br = bufio.NewReaderSize(conn, 32<<10)
	} else {
		d.br.Reset(conn)
	}
	return nil
}

func (d *h1Doer) do(ctx context.Context) (n int64, kind string) {
	if d.conn == nil {
		if err := d.connect(ctx); err != nil {
			return 0, errKind(err)
		}
	}
	_ = d.conn.SetDeadline(d.deadline(ctx))
	if _, err := d.conn.Write(d.req); err != nil {
		d.close()
		return 0, errKind(err)
	}
	status, n, keep, err := readResponse(d.br, d.r.cfg.Method == "HEAD")
	if err != nil {
		d.close()
		return n, errKind(err)
	}
	if !keep || d.oneShot {
		d.close()
	}
	if status != d.r.cfg.Expect {
		return n, statusKind(status)
	}
	return n, ""
}

// deadline is the request's: Timeout from now, or the run's end if sooner.
func (d *h1Doer) deadline(ctx context.Context) time.Time {
	deadline := time.Now().Add(d.r.cfg.Timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(deadline) {
		deadline = cd
	}
	return deadline
}

func (d *h1Doer) close() {
	if d.conn != nil {
		d.conn.Close()
		d.conn = nil
	}
}

// readLine returns the next line without its CRLF; the slice is valid
// until the next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errProtocol
	}
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'}), nil
}

var (
	hdrContentLength    = []byte("content-length")
	hdrTransferEncoding = []byte("transfer-encoding")
	hdrConnection       = []byte("connection")
)

// readResponse reads one response (after any 1xx interim ones) and
// discards its body; keep says whether the connection can carry another
// request.
func readResponse(br *bufio.Reader, head bool) (status int, n int64, keep bool, err error) {
	for {
		line, err := readLine(br)
		if err != nil {
			return 0, 0, false, err
		}
		// "HTTP/1.1 200 OK": version, space, three digits.
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
			return 0, 0, false, errProtocol
		}
		status, err = strconv.Atoi(string(line[9:12]))
		if err != nil || status < 100 {
			return 0, 0, false, errProtocol
		}
		keep = line[7] == '1'
		length, chunked := int64(-1), false
		for {
			line, err = readLine(br)
			if err != nil {
				return status, 0, false, err
			}
			if len(line) == 0 {
				break
			}
			name, value, ok := bytes.Cut(line, []byte{':'})
			if !ok {
				return status, 0, false, errProtocol
			}
			value = bytes.TrimSpace(value)
			switch {
			case bytes.EqualFold(name, hdrContentLength):
				v, err := strconv.ParseInt(string(value), 10, 64)
				if err != nil || v < 0 || (length >= 0 && v != length) {
					return status, 0, false, errProtocol
				}
				length = v
			case bytes.EqualFold(name, hdrTransferEncoding):
				chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
			case bytes.EqualFold(name, hdrConnection):
				lv := bytes.ToLower(value)
				if bytes.Contains(lv, []byte("close")) {
					keep = false
				} else if bytes.Contains(lv, []byte("keep-alive")) {
					keep = true
				}
			}
		}
		if status < 200 && status != 101 {
			continue // 100 Continue, 103 Early Hints: the response follows
		}
		switch {
		case head || status == 204 || status == 304:
		case chunked:
			n, err = discardChunked(br)
		case length >= 0:
			var d int
			d, err = br.Discard(int(length))
			n = int64(d)
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
		default:
			// No length: the body runs to the end of the connection.
			n, err = io.Copy(io.Discard, br)
			keep = false
		}
		return status, n, keep && err == nil, err
	}
}

// discardChunked reads a chunked body and its trailers.
func discardChunked(br *bufio.Reader) (n int64, err error) {
	for {
		line, err := readLine(br)
		if err != nil {
			return n, unexpected(err)
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return n, errProtocol
		}
		if size == 0 {
			for { // trailers, up to the empty line
				line, err := readLine(br)
				if err != nil {
					return n, unexpected(err)
				}
				if len(line) == 0 {
					return n, nil
				}
			}
		}
		d, err := br.Discard(int(size))
		n += int64(d)
		if err != nil {
			return n, unexpected(err)
		}
		if line, err := readLine(br); err != nil || len(line) != 0 {
			if err != nil {
				return n, unexpected(err)
			}
			return n, errProtocol
		}
	}
}

// unexpected turns an EOF inside a body into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
