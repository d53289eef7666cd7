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

// BundleSize is the size the POST workload's Bundle reaches (at least).
const BundleSize = 1 << 20

// writeBundle writes a FHIR batch Bundle of Patient creates of at least
// size bytes: about a thousand patients of ~1 KB each, a point-of-service
// system's backlog pushed in one request.
func writeBundle(path string, size int) error {
	var b bytes.Buffer
	b.WriteString(`{"resourceType":"Bundle","type":"batch","entry":[`)
	for i := 0; b.Len() < size-2; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		n := strconv.Itoa(i)
		b.WriteString(`{"fullUrl":"urn:uuid:00000000-0000-4000-8000-` + fmt.Sprintf("%012d", i) + `",`)
		b.WriteString(`"resource":{"resourceType":"Patient",`)
		b.WriteString(`"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">`)
		b.WriteString(`Benchmark patient ` + n + `, registered at a point-of-service system and sent in a nightly batch. `)
		b.WriteString(strings.Repeat("Padding to a realistic narrative size. ", 10))
		b.WriteString(`</div>"},`)
		b.WriteString(`"identifier":[{"system":"http://example.org/fhir/sid/bench","value":"BENCH-` + n + `"},`)
		b.WriteString(`{"system":"http://example.org/fhir/sid/national","value":"NAT` + fmt.Sprintf("%08d", i) + `"}],`)
		b.WriteString(`"name":[{"use":"official","family":"Benchmark` + n + `","given":["Load","Test"]}],`)
		b.WriteString(`"telecom":[{"system":"phone","value":"+255 700 ` + fmt.Sprintf("%06d", i) + `","use":"mobile"}],`)
		b.WriteString(`"gender":"female","birthDate":"1990-01-01",`)
		b.WriteString(`"address":[{"line":["Plot ` + n + `"],"city":"Dodoma","country":"TZ"}]},`)
		b.WriteString(`"request":{"method":"POST","url":"Patient"}}`)
	}
	b.WriteString(`]}`)
	return os.WriteFile(filepath.Clean(path), b.Bytes(), 0o644)
}
