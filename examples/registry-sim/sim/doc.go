// Package sim is a loopback-only stand-in for what sits behind crgate: an
// OpenCR server, its HAPI FHIR JPA server (FHIR service, web testing UI and
// the starter's non-FHIR endpoints) and Elasticsearch, all answered from one
// listener so the gateway can be pointed at a single upstream.
//
// It exists to make gateway tests honest. Every request that reaches the
// registry surface is recorded, byte for byte where it matters (the request
// URI undecoded, header names as Go's server produced them, a SHA-256 of the
// body), before it is answered, so an end-to-end test can prove that a
// request the gateway refused never arrived. The recorder and the fault
// injection switches live on a separate control listener that nothing
// proxied through the gateway can reach.
//
// The registry surface deliberately answers more than a cautious server
// would: dangerous HAPI operations report "simulated $op executed", the
// tester UI answers through `;jsessionid` path parameters and `..`
// segments as a servlet container would, and any resource type gets a
// plausible reply. The gateway's allowlist is what has to decide, never
// the simulator.
//
// The control client (Records, Reset, FailNext, DelayNext, WaitHealthy,
// WaitAddrFile) is for test packages that run the simulator, in process
// with Start or as the registry-sim binary.
package sim
