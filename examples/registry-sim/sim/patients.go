package sim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Identifier systems of the synthetic patients. Every patient has an IHE
// RED and a national id; two in three also have an IHE BLUE identifier, so
// a PIXm query has something to cross-reference.
const (
	SystemIHERed     = "urn:oid:1.3.6.1.4.1.21367.13.20.1000"
	SystemIHEBlue    = "urn:oid:1.3.6.1.4.1.21367.13.20.3000"
	SystemNationalID = "http://example.org/fhir/sid/national-id"
)

const (
	// DefaultPatients is the size of the synthetic population when
	// Options.Patients is zero.
	DefaultPatients = 40
	// MaxPatients bounds the population: every version of every patient is
	// serialised up front, so memory grows with it.
	MaxPatients = 10000
)

// PatientID is the resource id of the i-th synthetic patient (1-based).
func PatientID(i int) string { return fmt.Sprintf("p-%04d", i) }

// RedIdentifier is the value of the i-th patient's identifier in the
// SystemIHERed domain.
func RedIdentifier(i int) string { return "IHERED-" + strconv.Itoa(1000+i) }

// BlueIdentifier is the value of the i-th patient's identifier in the
// SystemIHEBlue domain, and ok is false for the patients (every third) that
// have none.
func BlueIdentifier(i int) (value string, ok bool) {
	if i%3 == 0 {
		return "", false
	}
	return "IHEBLUE-" + strconv.Itoa(5000+i), true
}

// NationalID is the value of the i-th patient's SystemNationalID
// identifier.
func NationalID(i int) string {
	// 104729 is prime and coprime with the modulus, so the values are
	// distinct for any population the simulator allows.
	return strconv.Itoa(10000000 + (i*104729)%89999999)
}

// The seed is fixed so that every run, and every test, sees the same
// population, and patient i is the same whatever --patients says.
const seed = 0x5eed_c11e

var (
	families = []string{
		"Mwangi", "Otieno", "Kamau", "Wanjiru", "Ochieng", "Njoroge", "Kariuki",
		"Achieng", "Kiprono", "Mutua", "Koroma", "Kamara", "Sesay", "Conteh",
		"Bangura", "Mensah", "Okafor", "Müller", "García", "Nguyen",
	}
	givenFemale = []string{
		"Grace", "Mary", "Faith", "Aisha", "Esther", "Wanjiku", "Fatmata",
		"Aminata", "Sarah", "Zainab", "Amina", "Chloé", "Isatu", "Mercy",
	}
	givenMale = []string{
		"John", "Peter", "David", "Joseph", "Brian", "Mohamed", "Ibrahim",
		"Samuel", "Kevin", "Abdul", "Ousmane", "José", "Alhaji", "Dennis",
	}
	streets = []string{
		"Moi Avenue", "Kenyatta Avenue", "Oginga Odinga Street", "Ngong Road",
		"Siaka Stevens Street", "Wilkinson Road", "Kissy Road", "Tom Mboya Street",
	}
	places = []struct{ city, district, state, postal, country, dial string }{
		{"Nairobi", "Westlands", "Nairobi County", "00100", "KE", "+254"},
		{"Kisumu", "Kisumu Central", "Kisumu County", "40100", "KE", "+254"},
		{"Mombasa", "Mvita", "Mombasa County", "80100", "KE", "+254"},
		{"Nakuru", "Nakuru East", "Nakuru County", "20100", "KE", "+254"},
		{"Freetown", "Western Area Urban", "Western Area", "00232", "SL", "+232"},
		{"Bo", "Bo Town", "Southern Province", "00232", "SL", "+232"},
		{"Kenema", "Nongowa", "Eastern Province", "00232", "SL", "+232"},
	}
	orgs = []fhirReference{
		{Reference: "Organization/org-1", Display: "Kenyatta National Hospital"},
		{Reference: "Organization/org-2", Display: "Jaramogi Oginga Odinga Teaching and Referral Hospital"},
		{Reference: "Organization/org-3", Display: "Connaught Hospital"},
	}
	epoch = time.Date(2023, time.March, 6, 8, 0, 0, 0, time.UTC)
)

// The FHIR R4 shapes the synthetic data needs. Field order is the order of
// the R4 element definitions, so the serialised JSON reads like HAPI's.
type (
	fhirMeta struct {
		VersionID   string `json:"versionId"`
		LastUpdated string `json:"lastUpdated"`
		Source      string `json:"source,omitempty"`
	}
	fhirCoding struct {
		System  string `json:"system,omitempty"`
		Code    string `json:"code,omitempty"`
		Display string `json:"display,omitempty"`
	}
	fhirCodeableConcept struct {
		Coding []fhirCoding `json:"coding,omitempty"`
		Text   string       `json:"text,omitempty"`
	}
	fhirIdentifier struct {
		Use    string               `json:"use,omitempty"`
		Type   *fhirCodeableConcept `json:"type,omitempty"`
		System string               `json:"system,omitempty"`
		Value  string               `json:"value,omitempty"`
	}
	fhirHumanName struct {
		Use    string   `json:"use,omitempty"`
		Text   string   `json:"text,omitempty"`
		Family string   `json:"family,omitempty"`
		Given  []string `json:"given,omitempty"`
	}
	fhirContactPoint struct {
		System string `json:"system,omitempty"`
		Value  string `json:"value,omitempty"`
		Use    string `json:"use,omitempty"`
	}
	fhirAddress struct {
		Use        string   `json:"use,omitempty"`
		Line       []string `json:"line,omitempty"`
		City       string   `json:"city,omitempty"`
		District   string   `json:"district,omitempty"`
		State      string   `json:"state,omitempty"`
		PostalCode string   `json:"postalCode,omitempty"`
		Country    string   `json:"country,omitempty"`
	}
	fhirReference struct {
		Reference string `json:"reference,omitempty"`
		Display   string `json:"display,omitempty"`
	}
	fhirPatient struct {
		ResourceType         string             `json:"resourceType"`
		ID                   string             `json:"id,omitempty"`
		Meta                 *fhirMeta          `json:"meta,omitempty"`
		Identifier           []fhirIdentifier   `json:"identifier,omitempty"`
		Active               *bool              `json:"active,omitempty"`
		Name                 []fhirHumanName    `json:"name,omitempty"`
		Telecom              []fhirContactPoint `json:"telecom,omitempty"`
		Gender               string             `json:"gender,omitempty"`
		BirthDate            string             `json:"birthDate,omitempty"`
		Address              []fhirAddress      `json:"address,omitempty"`
		ManagingOrganization *fhirReference     `json:"managingOrganization,omitempty"`
	}
)

// patient is one synthetic patient with every response about it already
// serialised: reads and searches only copy bytes.
type patient struct {
	id       string
	versions []patientVersion // versions[v-1] is version v; the last is current

	// Search keys, folded once here rather than per request, and as
	// written for :exact.
	family      string
	givens      []string
	familyExact string
	givensExact []string
	gender      string
	birthDate   string
	identifier  []fhirIdentifier
}

type patientVersion struct {
	json          []byte
	lastUpdated   string
	etag          []string // header value, shared by every response
	lastModified  []string
	contentLength []string
}

func (p *patient) current() *patientVersion { return &p.versions[len(p.versions)-1] }

// newPopulation builds patients 1..n.
func newPopulation(n int) ([]*patient, error) {
	pats := make([]*patient, 0, n)
	var prev *fhirPatient
	for i := 1; i <= n; i++ {
		fp, nver := synthesize(i, prev)
		p, err := freeze(fp, nver, i)
		if err != nil {
			return nil, fmt.Errorf("patient %d: %w", i, err)
		}
		pats = append(pats, p)
		prev = fp
	}
	return pats, nil
}

// synthesize draws patient i. Every tenth patient (2, 12, 22…) is a
// near-duplicate of the one before it, with the same name, sex and birth
// date under different identifiers, because duplicate detection is what a
// client registry is for and $match should have something to find.
func synthesize(i int, prev *fhirPatient) (*fhirPatient, int) {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	active := true
	fp := &fhirPatient{ResourceType: "Patient", ID: PatientID(i), Active: &active}

	fp.Identifier = append(fp.Identifier, fhirIdentifier{
		Use: "usual", System: SystemIHERed, Value: RedIdentifier(i),
	}, fhirIdentifier{
		Use: "official",
		Type: &fhirCodeableConcept{Coding: []fhirCoding{{
			System: "http://terminology.hl7.org/CodeSystem/v2-0203", Code: "NI", Display: "National unique individual identifier",
		}}},
		System: SystemNationalID, Value: NationalID(i),
	})
	if v, ok := BlueIdentifier(i); ok {
		fp.Identifier = append(fp.Identifier, fhirIdentifier{Use: "secondary", System: SystemIHEBlue, Value: v})
	}

	if i%10 == 2 && prev != nil {
		fp.Name = prev.Name
		fp.Gender = prev.Gender
		fp.BirthDate = prev.BirthDate
	} else {
		family := families[rng.IntN(len(families))]
		var given []string
		if rng.IntN(2) == 0 {
			fp.Gender = "female"
			given = []string{givenFemale[rng.IntN(len(givenFemale))], givenFemale[rng.IntN(len(givenFemale))]}
		} else {
			fp.Gender = "male"
			given = []string{givenMale[rng.IntN(len(givenMale))], givenMale[rng.IntN(len(givenMale))]}
		}
		if given[0] == given[1] || rng.IntN(4) == 0 {
			given = given[:1]
		}
		fp.Name = []fhirHumanName{{Use: "official", Family: family, Given: given}}
		birth := time.Date(1940+rng.IntN(80), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC)
		fp.BirthDate = birth.Format(time.DateOnly)
	}

	pl := places[rng.IntN(len(places))]
	fp.Telecom = []fhirContactPoint{{System: "phone", Value: phone(rng, pl.dial), Use: "mobile"}}
	if rng.IntN(3) != 0 {
		fp.Telecom = append(fp.Telecom, fhirContactPoint{
			System: "email",
			Value:  fmt.Sprintf("%s.%s%d@example.org", asciiLower(fp.Name[0].Given[0]), asciiLower(fp.Name[0].Family), i),
			Use:    "home",
		})
	}
	fp.Address = []fhirAddress{{
		Use:        "home",
		Line:       []string{fmt.Sprintf("%d %s", 1+rng.IntN(240), streets[rng.IntN(len(streets))])},
		City:       pl.city,
		District:   pl.district,
		State:      pl.state,
		PostalCode: pl.postal,
		Country:    pl.country,
	}}
	org := orgs[rng.IntN(len(orgs))]
	fp.ManagingOrganization = &org
	return fp, 1 + rng.IntN(3)
}

func phone(rng *rand.Rand, dial string) string {
	return fmt.Sprintf("%s %d%02d %03d %03d", dial, 7, rng.IntN(100), rng.IntN(1000), rng.IntN(1000))
}

// asciiLower folds a name into something usable in an e-mail address.
func asciiLower(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range foldString(s) {
		if r < 0x80 {
			b = append(b, byte(r))
		}
	}
	return string(b)
}

// freeze serialises every version of fp. Earlier versions differ from the
// current one in the phone number, the way a registry's history usually
// looks, so a vread of version 1 is visibly not the current resource.
func freeze(fp *fhirPatient, nver, i int) (*patient, error) {
	p := &patient{
		id:          fp.ID,
		family:      foldString(fp.Name[0].Family),
		familyExact: fp.Name[0].Family,
		givensExact: fp.Name[0].Given,
		gender:      fp.Gender,
		birthDate:   fp.BirthDate,
		identifier:  fp.Identifier,
	}
	for _, g := range fp.Name[0].Given {
		p.givens = append(p.givens, foldString(g))
	}

	created := epoch.Add(time.Duration(i) * 37 * time.Hour).Add(time.Duration(i*7919%3600) * time.Second)
	currentPhone := fp.Telecom[0].Value
	for v := 1; v <= nver; v++ {
		at := created.Add(time.Duration(v-1) * 23 * 24 * time.Hour).Add(time.Duration(v*137) * time.Millisecond)
		cp := *fp
		cp.Telecom = append([]fhirContactPoint(nil), fp.Telecom...)
		if v < nver {
			cp.Telecom[0].Value = currentPhone[:len(currentPhone)-3] + fmt.Sprintf("%03d", (v*211+i)%1000)
		}
		lu := at.Format(fhirInstant)
		cp.Meta = &fhirMeta{VersionID: strconv.Itoa(v), LastUpdated: lu, Source: "#registry-sim"}
		js, err := json.Marshal(&cp)
		if err != nil {
			return nil, err
		}
		p.versions = append(p.versions, patientVersion{
			json:          js,
			lastUpdated:   lu,
			etag:          []string{`W/"` + strconv.Itoa(v) + `"`},
			lastModified:  []string{at.Format(http.TimeFormat)},
			contentLength: []string{strconv.Itoa(len(js))},
		})
	}
	return p, nil
}

// fhirInstant is how HAPI writes meta.lastUpdated.
const fhirInstant = "2006-01-02T15:04:05.000-07:00"
