package driver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a child process (a proxy or the simulator), pinned to cpus when
// that is set.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// pinned prefixes argv with taskset when cpus is set. taskset execs the
// program, so the child's pid is the program's.
func pinned(cpus string, argv []string) []string {
	if cpus == "" {
		return argv
	}
	return append([]string{"taskset", "-c", cpus}, argv...)
}

func startProc(name, cpus, logPath string, env []string, argv ...string) (*proc, error) {
	argv = pinned(cpus, argv)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so a Ctrl-C on the driver reaches the driver
	// first and it stops its children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to end and kills it after 10s.
func (p *proc) stop() {
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// logTail is the end of the process's output, for error messages.
func (p *proc) logTail() string {
	data, _ := os.ReadFile(p.log)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// tree is the process and its children (nginx's master and workers).
func (p *proc) tree() []int {
	pid := p.cmd.Process.Pid
	pids := []int{pid}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		if st, err := readStat(child); err == nil && st.ppid == pid {
			pids = append(pids, child)
		}
	}
	return pids
}

type procStat struct {
	ppid         int
	utime, stime int64 // clock ticks
}

// readStat parses /proc/<pid>/stat. The command name (field 2) may hold
// spaces and parentheses, so fields are counted after its last ')'.
func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	return parseStat(pid, data)
}

func parseStat(pid int, data []byte) (procStat, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var st procStat
	var errs [3]error
	st.ppid, errs[0] = strconv.Atoi(f[1])
	st.utime, errs[1] = strconv.ParseInt(f[11], 10, 64)
	st.stime, errs[2] = strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(errs[:]...); err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return st, nil
}

// clockTick is USER_HZ, the unit of utime and stime; Linux fixes it at 100
// for user space on every architecture Go supports.
const clockTick = 10 * time.Millisecond

// cpuTime is the user plus system CPU time the processes have used.
func cpuTime(pids []int) (time.Duration, error) {
	var ticks int64
	for _, pid := range pids {
		st, err := readStat(pid)
		if err != nil {
			return 0, err
		}
		ticks += st.utime + st.stime
	}
	return time.Duration(ticks) * clockTick, nil
}

// peakRSS is the sum of the processes' peak resident set sizes (VmHWM), in
// bytes.
func peakRSS(pids []int) (int64, error) {
	var total int64
	for _, pid := range pids {
		f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
		if err != nil {
			return 0, err
		}
		sc := bufio.NewScanner(f)
		found := false
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err != nil {
					f.Close()
					return 0, fmt.Errorf("/proc/%d/status VmHWM %q: %w", pid, v, err)
				}
				total += kb << 10
				found = true
				break
			}
		}
		f.Close()
		if !found {
			return 0, fmt.Errorf("/proc/%d/status: no VmHWM", pid)
		}
	}
	return total, nil
}

// tcpPeersOf lists the client ends of the TCP connections of this network
// namespace to a local server on port, in any state: whichever side closed
// first keeps its end in TIME_WAIT, so comparing two snapshots counts the
// connections opened in between, even those already closed.
func tcpPeersOf(port int) map[string]struct{} {
	want := fmt.Sprintf(":%04X", port)
	peers := map[string]struct{}{}
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		lines := strings.Split(string(data), "\n")
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if len(f) < 4 {
				continue
			}
			local, remote := f[1], f[2]
			switch {
			case strings.HasSuffix(remote, want): // the client's end
				peers[local] = struct{}{}
			case strings.HasSuffix(local, want) && !strings.HasSuffix(remote, ":0000"): // the server's end
				peers[remote] = struct{}{}
			}
		}
	}
	return peers
}

func newPeers(before, after map[string]struct{}) int {
	n := 0
	for k := range after {
		if _, ok := before[k]; !ok {
			n++
		}
	}
	return n
}

// freePort returns a loopback port nothing listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	tcp, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, fmt.Errorf("listener address %v is not TCP", l.Addr())
	}
	return tcp.Port, nil
}
