/**
 * `portcullis request`: a signed HTTPS request to any endpoint, like curl with SigV4; or a
 * presigned URL.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { send } from '../../client/http.js';
import { RequestSigner } from '../../client/signer.js';
import { withRetries } from '../../client/retry.js';
import { serviceError } from '../../client/query.js';
import type { Command, Invocation } from '../command.js';
import { clientContext } from '../context.js';
import { EXIT, UsageError } from '../exit.js';

const METHOD = /^[A-Z]+$/;

/** `sts.amazonaws.com`, `lambda.eu-west-1.amazonaws.com`, `iam.amazonaws.com`: service and region. */
export function inferFromHost(host: string): { service?: string; region?: string } {
  const m = /^([a-z0-9-]+)(?:\.([a-z]{2}(?:-[a-z]+)+-\d))?\.amazonaws\.com(?:\.cn)?$/.exec(host);
  if (!m) return {};
  return { service: m[1]!, ...(m[2] ? { region: m[2] } : {}) };
}

function headersOf(inv: Invocation): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const h of inv.list('header')) {
    const i = h.indexOf(':');
    if (i <= 0) throw new UsageError(`-H \`${h}\` must be \`Name: value\``, 'request');
    const name = h.slice(0, i).trim().toLowerCase();
    const value = h.slice(i + 1).trim();
    const prev = out[name];
    out[name] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
  }
  return out;
}

function bodyOf(inv: Invocation): Buffer | undefined {
  const d = inv.str('data');
  if (d === undefined) return undefined;
  if (d === '@-') return readFileSync(0);
  if (d.startsWith('@')) {
    try {
      return readFileSync(resolve(inv.io.cwd, d.slice(1)));
    } catch (e) {
      throw new UsageError(`cannot read ${d.slice(1)} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, 'request');
    }
  }
  return Buffer.from(d);
}

export const requestCommand: Command = {
  path: ['request'],
  summary: 'Send a SigV4-signed request to any HTTPS endpoint (like curl), or print a presigned URL.',
  usage: '[METHOD] URL [-H "Name: value"]… [-d DATA|@FILE] [--service NAME] [--region REGION] [-i] [--presign [--expires-in SECONDS]]',
  description:
    'A URL starting with / is taken relative to the endpoint. The service and region are read from AWS host names\n' +
    '(e.g. sts.us-east-1.amazonaws.com); otherwise give --service. The method is GET, or POST with -d.\n' +
    'The response body goes to stdout. Exit 0 for 1xx-3xx, 5 for 4xx, 6 for 5xx.',
  client: true,
  options: {
    header: { type: 'string', short: 'H', multiple: true, value: '"Name: value"', description: 'a header to send (and sign)' },
    data: { type: 'string', short: 'd', value: 'DATA|@FILE', description: 'the body; @FILE reads a file, @- stdin' },
    service: { type: 'string', value: 'NAME', description: 'the service in the credential scope (sts, iam, execute-api, …)' },
    include: { type: 'boolean', short: 'i', description: 'print the status line and headers before the body' },
    'unsigned-payload': { type: 'boolean', description: 'sign with UNSIGNED-PAYLOAD instead of the body hash' },
    presign: { type: 'boolean', description: 'print a presigned URL instead of sending' },
    'expires-in': { type: 'string', value: 'SECONDS', description: 'presigned URL lifetime, 1 to 604800; default 900' },
    sigv4a: { type: 'boolean', description: 'sign with SigV4a (ECDSA), valid in every region of --region-set' },
    'region-set': { type: 'string', value: 'LIST', description: 'SigV4a: comma-separated regions (wildcards allowed); default *' },
    retries: { type: 'string', value: 'N', description: 'attempts on throttling and 5xx, with backoff; default 1 (no retry)' },
  },
  examples: [
    "portcullis request POST / --service sts -d 'Action=GetCallerIdentity&Version=2011-06-15'",
    "portcullis request 'https://127.0.0.1:8443/?Action=ListUsers&Version=2010-05-08' --service iam -i",
    'portcullis request PUT https://api.internal:8443/orders/42 --service orders -H "Content-Type: application/json" -d @order.json',
    "portcullis request --presign '/?Action=GetCallerIdentity&Version=2011-06-15' --service sts --expires-in 300",
    "portcullis request POST / --service sts --sigv4a --region-set 'us-*' -d 'Action=GetCallerIdentity&Version=2011-06-15'",
  ],
  async run(inv) {
    const ctx = clientContext(inv);
    const [a, b] = inv.positionals;
    const [methodArg, target] = b !== undefined && a !== undefined && METHOD.test(a) ? [a, b] : [undefined, a];
    if (target === undefined) throw new UsageError('the URL is missing', 'request');
    if (inv.positionals.length > (methodArg ? 2 : 1)) throw new UsageError(`unexpected argument \`${inv.positionals.at(-1)}\``, 'request');
    let url: URL;
    try {
      url = new URL(target, ctx.endpoint);
    } catch {
      throw new UsageError(`\`${target}\` is not a URL`, 'request');
    }
    if (url.protocol !== 'https:') throw new UsageError('only https:// URLs (Portcullis clients speak TLS only)', 'request');
    const inferred = inferFromHost(url.hostname);
    const service = inv.str('service') ?? inferred.service;
    if (service === undefined) throw new UsageError(`which service does ${url.host} sign for? Give --service NAME (e.g. sts, iam, execute-api)`, 'request');
    const region = inv.str('region') ?? inferred.region ?? ctx.region;
    const body = bodyOf(inv);
    const method = methodArg ?? (body !== undefined ? 'POST' : 'GET');
    const headers = headersOf(inv);
    if (body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const regionSet = inv.str('region-set');
    if (regionSet !== undefined && !inv.bool('sigv4a')) throw new UsageError('--region-set goes with --sigv4a', 'request');
    const signer = new RequestSigner({ credentials: ctx.credentials, region, service, sigv4a: inv.bool('sigv4a'), ...(regionSet !== undefined ? { regionSet: regionSet.split(',') } : {}) });

    if (inv.bool('presign')) {
      if (body !== undefined) throw new UsageError('a presigned URL carries no body; drop -d', 'request');
      const expires = Number(inv.str('expires-in') ?? 900);
      if (!Number.isInteger(expires) || expires < 1 || expires > 604_800) throw new UsageError('--expires-in must be 1 to 604800 seconds', 'request');
      const p = await signer.presign({ method, url, headers }, expires);
      return { json: { url: p.url.href, method, expiresIn: expires }, text: `${p.url.href}\n` };
    }

    const attempts = Number(inv.str('retries') ?? 1);
    if (!Number.isInteger(attempts) || attempts < 1) throw new UsageError('--retries must be a positive whole number', 'request');
    const res = await withRetries(async (attempt) => {
      const signed = await signer.sign({ method, url, headers, ...(body !== undefined ? { body } : {}) }, { unsignedPayload: inv.bool('unsigned-payload') });
      const r = await send({ url, method, headers: signed.headers, ...(body !== undefined ? { body } : {}) }, { agent: ctx.agent, attempt });
      // Only failures worth retrying are thrown; the last answer is printed whatever it is.
      if (attempt < attempts && (r.status === 429 || r.status >= 500)) throw serviceError(r, attempt);
      return r;
    }, { maxAttempts: attempts, onRetry: ({ attempt, delayMs }) => inv.progress(`attempt ${attempt} failed; retrying in ${delayMs} ms`) });
    const exitCode = res.status >= 500 ? EXIT.serviceFailure : res.status >= 400 ? EXIT.refused : EXIT.ok;
    const text = res.body.toString('utf8');
    if (inv.output === 'json') {
      return { json: { status: res.status, headers: res.headers, body: text }, exitCode };
    }
    let head = '';
    if (inv.bool('include')) {
      head = `HTTP ${res.status}\n${Object.entries(res.headers).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}`).join('\n')}\n\n`;
    }
    inv.io.stdout(head);
    inv.io.stdout(res.body);
    if (res.status >= 400) inv.io.stderr(`portcullis: HTTP ${res.status}${res.headers['x-amzn-requestid'] ? ` (request id ${String(res.headers['x-amzn-requestid'])})` : ''}\n`);
    return exitCode;
  },
};
