package nodeauth

import (
	"fmt"
	"io"
	"maps"
	"os"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// fileStamp is what the watcher compares to decide whether a file changed:
// an editor's in-place write changes size or mtime, an atomic rename changes
// the inode.
type fileStamp struct {
	size  int64
	mtime time.Time
	ino   uint64
	dev   uint64
}

func stampOf(fi os.FileInfo) fileStamp {
	s := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino, s.dev = st.Ino, uint64(st.Dev) //nolint:unconvert // Dev's type differs by platform
	}
	return s
}

// readStamped reads a file together with the stamp it had when opened, so
// a write racing the read shows up as a change on the next tick.
func readStamped(path string) ([]byte, fileStamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileStamp{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileStamp{}, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fileStamp{}, fmt.Errorf("%s is not a regular file", path)
	}
	const maxFile = 64 << 20
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fileStamp{}, err
	}
	if len(data) > maxFile {
		return nil, fileStamp{}, fmt.Errorf("%s is larger than %d MiB", path, maxFile>>20)
	}
	return data, stampOf(fi), nil
}

// load reads and validates every file into a new generation. Errors name
// the config field and the file.
func (r *Registry) load(generation uint64) (*registryState, map[string]fileStamp, error) {
	stamps := make(map[string]fileStamp, 2+len(r.CRLFiles))
	data, stamp, err := readStamped(r.ClientsFile)
	if err != nil {
		return nil, nil, fmt.Errorf("clients_file: %w", err)
	}
	stamps[r.ClientsFile] = stamp
	nodes, err := parseClients(data)
	if err != nil {
		return nil, nil, fmt.Errorf("clients_file %s: %w", r.ClientsFile, err)
	}
	lists := make([]*revocationList, 0, len(r.CRLFiles))
	for i, path := range r.CRLFiles {
		data, stamp, err := readStamped(path)
		if err != nil {
			return nil, nil, fmt.Errorf("crl_files[%d]: %w", i, err)
		}
		stamps[path] = stamp
		rl, err := parseCRL(path, data)
		if err != nil {
			return nil, nil, fmt.Errorf("crl_files[%d] %s: %w", i, path, err)
		}
		lists = append(lists, rl)
	}
	st := &registryState{nodes: nodes, crls: newRevocationSet(lists), generation: generation}
	if r.CAFile != "" {
		data, stamp, err := readStamped(r.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("ca_file: %w", err)
		}
		stamps[r.CAFile] = stamp
		if st.roots, err = parseCAFile(data); err != nil {
			return nil, nil, fmt.Errorf("ca_file %s: %w", r.CAFile, err)
		}
		st.chains = newChainSlots(nodes)
	}
	return st, stamps, nil
}

// files are the registry's watched files.
func (r *Registry) files() []string {
	files := append([]string{r.ClientsFile}, r.CRLFiles...)
	if r.CAFile != "" {
		files = append(files, r.CAFile)
	}
	return files
}

func (r *Registry) logLoaded(st *registryState, msg string) {
	active := 0
	for _, rn := range st.nodes.byID {
		if rn.active {
			active++
		}
	}
	nodesGauge.Set(float64(len(st.nodes.byID)))
	r.logger.Info(msg,
		zap.String("clients_file", r.ClientsFile),
		zap.Uint64("generation", st.generation),
		zap.Int("nodes", len(st.nodes.byID)),
		zap.Int("active", active),
		zap.Int("crls", len(r.CRLFiles)),
		zap.Bool("verifies_chains", st.roots != nil))
	if len(st.nodes.unknownFields) > 0 {
		r.logger.Warn("clients file has fields crgate does not use; check for typos",
			zap.Strings("fields", st.nodes.unknownFields))
	}
	if len(st.nodes.byID) == 0 {
		r.logger.Warn("the clients file registers no node: every client certificate will be refused")
	}
	for _, lists := range st.crls.byIssuer {
		for _, rl := range lists {
			if rl.stale(now()) {
				r.logger.Warn("CRL is past its next update; its revocations still apply, publish a fresh one",
					zap.String("crl_file", rl.path), zap.Time("next_update", rl.crl.NextUpdate))
			}
		}
	}
}

// watch polls the files and swaps in a new generation when one changed and
// validates. Polling (rather than inotify) also sees files replaced through
// symlink swaps, as Kubernetes config maps do.
func (r *Registry) watch() {
	defer close(r.done)
	ticker := time.NewTicker(time.Duration(r.ReloadInterval))
	defer ticker.Stop()
	var rejected map[string]fileStamp // stamps of the last rejected attempt
	for {
		select {
		case <-r.stop:
			return
		case <-ticker.C:
		}
		current := r.currentStamps()
		if maps.Equal(current, r.stamps) || maps.Equal(current, rejected) {
			continue
		}
		st, stamps, err := r.load(r.state.Load().generation + 1)
		if err != nil {
			rejected = current
			reloadsTotal.WithLabelValues("error").Inc()
			r.logger.Error("rejected changed node registry files; the last good registry stays in force",
				zap.Error(err))
			continue
		}
		rejected = nil
		r.stamps = stamps
		r.state.Store(st)
		reloadsTotal.WithLabelValues("ok").Inc()
		r.logLoaded(st, "node registry reloaded")
	}
}

// currentStamps stats every file; a missing file gets a zero stamp, which
// differs from any loaded one and so triggers a (failing, logged) load.
func (r *Registry) currentStamps() map[string]fileStamp {
	files := r.files()
	out := make(map[string]fileStamp, len(files))
	for _, path := range files {
		if fi, err := os.Stat(path); err == nil {
			out[path] = stampOf(fi)
		} else {
			out[path] = fileStamp{}
		}
	}
	return out
}
