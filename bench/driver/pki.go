package driver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// benchNode is the registered node the load generator speaks as. Its
// scopes cover every workload: Patient search, and a batch Bundle of
// Patient creates.
const (
	benchNode   = "bench"
	benchScopes = "Patient.search,Patient.read,Patient.create,system.batch"
)

// makePKI makes a dev CA, a server certificate for localhost, a client
// certificate for benchNode and a clients file registering it, all with the
// real `crgate pki` and `crgate clients`.
func makePKI(ctx context.Context, crgateBin, dir string) (pkiPaths, error) {
	p := pkiPaths{dir: dir}
	steps := [][]string{
		{"pki", "init", "--dir", dir},
		{"pki", "issue", "--dir", dir, "--name", benchNode},
		{"clients", "add", "--file", p.clients(), "--id", benchNode, "--name", "Benchmark node",
			"--cert", p.nodeCert(), "--scope", benchScopes},
	}
	for _, args := range steps {
		if out, err := exec.CommandContext(ctx, crgateBin, args...).CombinedOutput(); err != nil {
			return p, fmt.Errorf("crgate %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return p, nil
}

// BundleSize is the POST workload's Bundle size: 1 MB, just under
// fhir_guard's default max_body of 1 MiB, so the guard judges every entry
// instead of refusing the Bundle as too large.
const BundleSize = 1_000_000

// writeBundle writes Bundle(size) to path.
func writeBundle(path string, size int) error {
	return os.WriteFile(filepath.Clean(path), Bundle(size), 0o644)
}

// Bundle is a FHIR batch Bundle of Patient creates, as large as fits in
// size bytes: about a thousand patients of ~1 KB each, a point-of-service
// system's backlog pushed in one request. fhir_guard's benchmark reads the
// same Bundle.
func Bundle(size int) []byte {
	var b, e bytes.Buffer
	b.WriteString(`{"resourceType":"Bundle","type":"batch","entry":[`)
	const tail = `]}`
	for i := 0; ; i++ {
		e.Reset()
		if i > 0 {
			e.WriteByte(',')
		}
		n := strconv.Itoa(i)
		e.WriteString(`{"fullUrl":"urn:uuid:00000000-0000-4000-8000-` + fmt.Sprintf("%012d", i) + `",`)
		e.WriteString(`"resource":{"resourceType":"Patient",`)
		e.WriteString(`"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">`)
		e.WriteString(`Benchmark patient ` + n + `, registered at a point-of-service system and sent in a nightly batch. `)
		e.WriteString(strings.Repeat("Padding to a realistic narrative size. ", 10))
		e.WriteString(`</div>"},`)
		e.WriteString(`"identifier":[{"system":"http://example.org/fhir/sid/bench","value":"BENCH-` + n + `"},`)
		e.WriteString(`{"system":"http://example.org/fhir/sid/national","value":"NAT` + fmt.Sprintf("%08d", i) + `"}],`)
		e.WriteString(`"name":[{"use":"official","family":"Benchmark` + n + `","given":["Load","Test"]}],`)
		e.WriteString(`"telecom":[{"system":"phone","value":"+255 700 ` + fmt.Sprintf("%06d", i) + `","use":"mobile"}],`)
		e.WriteString(`"gender":"female","birthDate":"1990-01-01",`)
		e.WriteString(`"address":[{"line":["Plot ` + n + `"],"city":"Dodoma","country":"TZ"}]},`)
		e.WriteString(`"request":{"method":"POST","url":"Patient"}}`)
		if b.Len()+e.Len()+len(tail) > size {
			break
		}
		b.Write(e.Bytes())
	}
	b.WriteString(tail)
	return b.Bytes()
}
