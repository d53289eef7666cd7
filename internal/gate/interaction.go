package gate

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/crgate/crgate/internal/fhirreq"
)

// interactionVar is the request variable under which fhir_guard publishes
// how it classified the request, so audit records what the guard judged
// rather than classifying again.
const interactionVar = "crgate.fhir_interaction"

// SetInteraction publishes the request's FHIR classification.
func SetInteraction(r *http.Request, in *fhirreq.Interaction) {
	caddyhttp.SetVar(r.Context(), interactionVar, in)
}

// InteractionFrom returns the classification fhir_guard published, if any.
func InteractionFrom(r *http.Request) (*fhirreq.Interaction, bool) {
	in, ok := caddyhttp.GetVar(r.Context(), interactionVar).(*fhirreq.Interaction)
	return in, ok && in != nil
}
