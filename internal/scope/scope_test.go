package scope

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		want     Scope
		ok       bool
	}{
		{"ok/type-read", "Patient.read", Scope{"Patient", "read"}, true},
		{"ok/type-search", "Patient.search", Scope{"Patient", "search"}, true},
		{"ok/type-operation", "Patient.$ihe-pix", Scope{"Patient", "$ihe-pix"}, true},
		{"ok/type-operation-underscore", "Patient.$my_op", Scope{"Patient", "$my_op"}, true},
		{"ok/system-batch", "system.batch", Scope{"system", "batch"}, true},
		{"ok/system-capabilities", "system.capabilities", Scope{"system", "capabilities"}, true},
		{"ok/system-operation", "system.$everything", Scope{"system", "$everything"}, true},
		{"ok/other-resource", "AuditEvent.search", Scope{"AuditEvent", "search"}, true},
		{"fail/empty", "", Scope{}, false},
		{"fail/no-dot", "Patient", Scope{}, false},
		{"fail/lowercase-type", "patient.read", Scope{}, false},
		{"fail/unknown-type", "Patients.read", Scope{}, false},
		{"fail/unknown-interaction", "Patient.readall", Scope{}, false},
		{"fail/wildcard-type", "*.read", Scope{}, false},
		{"fail/wildcard-interaction", "Patient.*", Scope{}, false},
		{"fail/system-read", "system.read", Scope{}, false},
		{"fail/type-batch", "Patient.batch", Scope{}, false},
		{"fail/empty-operation", "Patient.$", Scope{}, false},
		{"fail/operation-slash", "Patient.$a/b", Scope{}, false},
		{"fail/operation-digit-first", "Patient.$1op", Scope{}, false},
		{"fail/trailing-space", "Patient.read ", Scope{}, false},
		{"fail/extra-dot", "Patient.read.x", Scope{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.ok {
				if err != nil || got != tt.want {
					t.Fatalf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
				}
				if got.String() != tt.in {
					t.Fatalf("String() = %q, want %q", got.String(), tt.in)
				}
				return
			}
			if !errors.Is(err, ErrUnknown) {
				t.Fatalf("Parse(%q) error = %v, want ErrUnknown", tt.in, err)
			}
		})
	}
}

func TestSet(t *testing.T) {
	s, err := ParseSet([]string{"Patient.read", "Patient.$ihe-pix", "system.batch"})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		res, inter string
		want       bool
	}{
		{"Patient", "read", true},
		{"Patient", "$ihe-pix", true},
		{"system", "batch", true},
		{"Patient", "search", false},
		{"Observation", "read", false},
		{"system", "transaction", false},
	}
	for _, c := range checks {
		if got := s.Allows(c.res, c.inter); got != c.want {
			t.Errorf("Allows(%s, %s) = %v, want %v", c.res, c.inter, got, c.want)
		}
	}
	if _, err := ParseSet([]string{"Patient.read", "Patient.read"}); err == nil {
		t.Fatal("duplicate scope accepted")
	}
}

func TestResourceTypes(t *testing.T) {
	if n := len(resourceTypes()); n < 140 || n > 150 {
		t.Fatalf("derived %d R4 resource types, want about 145", n)
	}
	for _, name := range []string{"Patient", "AuditEvent", "Bundle", "Parameters", "OperationOutcome"} {
		if !IsResourceType(name) {
			t.Errorf("%s not recognised", name)
		}
	}
}

func TestResourceTypeFold(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"Organization", "Organization", true},
		{"organization", "Organization", true},
		{"PATIENT", "Patient", true},
		{"Tas\u212a", "Task", true}, // the Kelvin sign lower-cases to k
		{"Organisation", "", false},
		{"", "", false},
	} {
		got, ok := ResourceTypeFold(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ResourceTypeFold(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
