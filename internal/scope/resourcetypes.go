package scope

import (
	"strings"
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

// resourceTypes is derived from google/fhir's R4 ContainedResource, whose
// oneof lists every R4 resource type, so the set cannot drift from the FHIR
// version the audit builder speaks.
var resourceTypes = sync.OnceValue(func() map[string]struct{} {
	desc := (&bcrpb.ContainedResource{}).ProtoReflect().Descriptor()
	oneof := desc.Oneofs().ByName("oneof_resource")
	fields := oneof.Fields()
	types := make(map[string]struct{}, fields.Len())
	for i := range fields.Len() {
		var f protoreflect.FieldDescriptor = fields.Get(i)
		types[string(f.Message().Name())] = struct{}{}
	}
	return types
})

// IsResourceType reports whether name is an R4 resource type, spelled
// exactly (FHIR type names are case-sensitive).
func IsResourceType(name string) bool {
	_, ok := resourceTypes()[name]
	return ok
}

// foldedTypes maps each R4 resource type, lower-cased, to its name.
var foldedTypes = sync.OnceValue(func() map[string]string {
	m := make(map[string]string, len(resourceTypes()))
	for name := range resourceTypes() {
		m[strings.ToLower(name)] = name
	}
	return m
})

// ResourceTypeFold returns the R4 resource type name spells ignoring
// case, Unicode folding included (the Kelvin sign is a k). Some servers
// look resource types up that way: HAPI's FhirContext lower-cases the
// name, so "organization?name=x" in a reference is an Organization
// search there.
func ResourceTypeFold(name string) (string, bool) {
	if IsResourceType(name) {
		return name, true
	}
	typ, ok := foldedTypes()[strings.ToLower(name)]
	return typ, ok
}
