#!/usr/bin/env node
/**
 * A small upstream that speaks the AWS Data Pipeline API (awsJson 1.1), for trying Portcullis's
 * data plane: `aws datapipeline … --endpoint-url` and @aws-sdk/client-data-pipeline work through
 * the gateway. Pipelines live in memory.
 *
 *   node examples/datapipeline/server.mjs [--port 8081] [--identity-key PUBLIC_KEY.pem]
 *
 * With --identity-key (the gateway's /_portcullis/identity-key), every request must carry identity
 * headers signed by that key; unsigned or forged ones get 403. GET /_requests lists what arrived;
 * GET /_portcullis/resource-tags?resource=ARN tells a pipeline's tags.
 */
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const port = Number(opt('--port', '8081'));
const keyFile = opt('--identity-key', undefined);
const publicKey = keyFile ? createPublicKey(readFileSync(keyFile, 'utf8')) : undefined;

const IDENTITY = ['x-portcullis-principal', 'x-portcullis-account', 'x-portcullis-user-id', 'x-portcullis-action', 'x-portcullis-request-id', 'x-portcullis-date'];

const sha256 = (...parts) => { const h = createHash('sha256'); for (const p of parts) h.update(p); return h.digest(); };

/**
 * The gateway signs a batch of requests at once: the signature covers a Merkle root, and the proof
 * header is the path from this request's leaf to that root (docs/data-plane.md, "Identity").
 */
function identityValid(req) {
  const values = IDENTITY.map((h) => req.headers[h]);
  const sig = req.headers['x-portcullis-identity-signature'];
  const proof = req.headers['x-portcullis-identity-proof'] ?? '';
  if (values.some((v) => typeof v !== 'string') || typeof sig !== 'string' || typeof proof !== 'string') return false;
  const steps = proof === '' ? [] : proof.split('.');
  if (steps.length > 16 || !steps.every((s) => /^[lr][A-Za-z0-9_-]{43}$/.test(s))) return false;
  const payload = `portcullis-identity-v2\n${req.method}\n${req.url}\n${values.map((v) => `${v}\n`).join('')}`;
  let h = sha256(Buffer.from([0]), Buffer.from(payload));
  for (const s of steps) {
    const sibling = Buffer.from(s.slice(1), 'base64url');
    h = s[0] === 'l' ? sha256(Buffer.from([1]), sibling, h) : sha256(Buffer.from([1]), h, sibling);
  }
  return verify(null, Buffer.concat([Buffer.from('portcullis-identity-root-v2\n'), h]), publicKey, Buffer.from(sig, 'base64url'));
}

const pipelines = new Map();
const seen = [];

class NotFound extends Error {}

const ops = {
  CreatePipeline(b, who) {
    const existing = [...pipelines.values()].find((p) => p.uniqueId === b.uniqueId && p.owner === who);
    if (existing) return { pipelineId: existing.id };
    const id = 'df-' + randomBytes(12).toString('hex').toUpperCase().slice(0, 19);
    pipelines.set(id, { id, name: b.name, uniqueId: b.uniqueId, description: b.description, tags: b.tags ?? [], state: 'PENDING', owner: who, objects: [], parameterObjects: [], parameterValues: [] });
    return { pipelineId: id };
  },
  ListPipelines() {
    return { pipelineIdList: [...pipelines.values()].map((p) => ({ id: p.id, name: p.name })), hasMoreResults: false };
  },
  DescribePipelines(b) {
    return {
      pipelineDescriptionList: (b.pipelineIds ?? []).map((id) => {
        const p = get(id);
        return { pipelineId: p.id, name: p.name, description: p.description, tags: p.tags, fields: [{ key: '@pipelineState', stringValue: p.state }, { key: 'owner', stringValue: p.owner }] };
      }),
    };
  },
  PutPipelineDefinition(b) {
    const p = get(b.pipelineId);
    p.objects = b.pipelineObjects ?? [];
    p.parameterObjects = b.parameterObjects ?? [];
    p.parameterValues = b.parameterValues ?? [];
    return { errored: false, validationErrors: [], validationWarnings: [] };
  },
  GetPipelineDefinition(b) {
    const p = get(b.pipelineId);
    return { pipelineObjects: p.objects, parameterObjects: p.parameterObjects, parameterValues: p.parameterValues };
  },
  ActivatePipeline(b) {
    get(b.pipelineId).state = 'SCHEDULED';
    return {};
  },
  DeletePipeline(b) {
    get(b.pipelineId);
    pipelines.delete(b.pipelineId);
    return {};
  },
};

function get(id) {
  const p = pipelines.get(id);
  if (!p) throw new NotFound(`Pipeline ${id} not found`);
  return p;
}

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/_requests') return send(res, 200, seen.slice(-50));
    // The tags of a pipeline, for the gateway's aws:ResourceTag/… conditions (the service's
    // `resourceTags` setting names this path). Tags are not secret here; nothing else is served unsigned.
    if (req.method === 'GET' && req.url.startsWith('/_portcullis/resource-tags?')) {
      const arn = new URLSearchParams(req.url.slice(req.url.indexOf('?') + 1)).get('resource') ?? '';
      const p = pipelines.get(/:pipeline\/([^/]+)$/.exec(arn)?.[1] ?? '');
      // A pipeline that does not exist has no tags (an empty object, not a 404: the gateway takes only a 200).
      return send(res, 200, { tags: Object.fromEntries((p?.tags ?? []).map((t) => [t.key, t.value])) });
    }
    seen.push({ method: req.method, url: req.url, headers: req.headers });
    if (publicKey && !identityValid(req)) return send(res, 403, { __type: 'AccessDeniedException', message: 'The request does not carry an identity signed by the gateway.' });
    const target = String(req.headers['x-amz-target'] ?? '');
    const op = ops[target.slice(target.lastIndexOf('.') + 1)];
    if (!target.startsWith('DataPipeline.') || !op) return send(res, 400, { __type: 'UnknownOperationException', message: `Unknown operation ${target}` });
    try {
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
      send(res, 200, op(body, String(req.headers['x-portcullis-principal'] ?? 'anonymous')));
    } catch (e) {
      if (e instanceof NotFound) return send(res, 400, { __type: 'PipelineNotFoundException', message: e.message });
      send(res, 400, { __type: 'InvalidRequestException', message: 'The request body is not valid JSON.' });
    }
  });
});

server.listen(port, '127.0.0.1', () => console.log(`datapipeline upstream listening on http://127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
