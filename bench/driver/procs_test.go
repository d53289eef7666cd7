package driver

import (
	"net"
	"os"
	"testing"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name, line   string
		ppid         int
		utime, stime int64
		ok           bool
	}{
		{"ok/plain", "1234 (crgate) S 99 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 1000 0 0", 99, 250, 75, true},
		// A command name may hold spaces and parentheses.
		{"ok/odd-name", "1234 (a) b (c) R 7 1 1 0 -1 0 0 0 0 0 3 4 0 0", 7, 3, 4, true},
		{"fail/short", "1234 (x) S 1 2 3", 0, 0, 0, false},
		{"fail/no-paren", "1234 x S 1", 0, 0, 0, false},
		{"fail/garbage", "1234 (x) S a 1 1 0 -1 0 0 0 0 0 x y 0 0", 0, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := parseStat(1234, []byte(tt.line))
			if (err == nil) != tt.ok {
				t.Fatalf("parseStat: %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (st.ppid != tt.ppid || st.utime != tt.utime || st.stime != tt.stime) {
				t.Errorf("got %+v", st)
			}
		})
	}
}

func TestOwnProcessFigures(t *testing.T) {
	st, err := readStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.ppid != os.Getppid() {
		t.Errorf("ppid %d, want %d", st.ppid, os.Getppid())
	}
	rss, err := peakRSS([]int{os.Getpid()})
	if err != nil || rss < 1<<20 {
		t.Errorf("peak RSS %d, %v: a Go test binary has more than 1 MB resident", rss, err)
	}
	if _, err := cpuTime([]int{os.Getpid()}); err != nil {
		t.Error(err)
	}
}

// Connections to a port are counted from /proc/net/tcp, including ones
// already closed (TIME_WAIT).
func TestTCPPeersCountsNewConnections(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	before := tcpPeersOf(port)
	for range 3 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if n := newPeers(before, tcpPeersOf(port)); n != 3 {
		t.Errorf("%d new connections counted, want 3", n)
	}
}
