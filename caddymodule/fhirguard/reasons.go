package fhirguard

import (
	"net/http"

	"github.com/crgate/crgate/internal/fhirreq"
	"github.com/crgate/crgate/internal/gate"
)

// Refusal reasons: a closed set, used as metric labels and audit reasons.
// Path refusals are "path_" + the canonicaliser's reason
// (fhirreq.PathReason), e.g. "path_semicolon".
const (
	reasonNoNode           = "no_node"
	reasonMethodOverride   = "method_override"
	reasonBadQuery         = "ambiguous_query"
	reasonNotFHIR          = "not_fhir"
	reasonScope            = "scope_missing"
	reasonTesterUI         = "hapi_tester_ui"
	reasonHAPINonFHIR      = "hapi_non_fhir"
	reasonDangerousOp      = "dangerous_operation"
	reasonBulkData         = "bulk_data"
	reasonConditionalDel   = "conditional_delete"
	reasonOpenCRAdmin      = "opencr_admin"
	reasonESAPI            = "elasticsearch_api"
	reasonESScript         = "elasticsearch_script"
	reasonTooLarge         = "body_too_large"
	reasonContentType      = "unsupported_content_type"
	reasonContentEncoding  = "unsupported_content_encoding"
	reasonInvalidBundle    = "invalid_bundle"
	reasonNestedBundle     = "nested_bundle"
	reasonBadBody          = "unreadable_body"
	reasonTypeMismatch     = "resource_type_mismatch"
	reasonBundleQuery      = "bundle_query"
	reasonSearchReach      = "search_reaches_unscoped_type"
	reasonPaging           = "ambiguous_paging"
	pathReasonPrefix       = "path_"
	reasonPathNotOrigin    = pathReasonPrefix + string(fhirreq.ReasonNotOriginForm)
	reasonEntryURLRequired = "bundle_entry_url_missing"
)

// module is the name refusals carry.
const module = "fhir_guard"

// refusal is a decision to refuse, with the status it is answered with.
type refusal struct {
	status         int
	reason, detail string
}

func (r *refusal) err() error {
	return &gate.Refusal{Module: module, Reason: r.reason, Detail: r.detail}
}

func forbidden(reason, detail string) *refusal {
	return &refusal{status: http.StatusForbidden, reason: reason, detail: detail}
}

func badRequest(reason, detail string) *refusal {
	return &refusal{status: http.StatusBadRequest, reason: reason, detail: detail}
}
