/**
 * `portcullis request` signs as botocore does: requests it sends to a capturing HTTPS server,
 * and the URLs it presigns, are signed again by botocore's SigV4 signers at the same instant,
 * and the two signatures must be equal. Under CI a missing botocore fails the run; elsewhere
 * these tests are skipped.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../helpers/paths.js';
import { makePki, type Pki } from '../helpers/tls.js';
import { cleanEnv, cli } from './helpers.js';

const execFileP = promisify(execFile);
const PYTHON = process.env['PORTCULLIS_PYTHON'] || 'python3';
const IN_CI = process.env['CI'] === 'true';
const KEY = { accessKeyId: 'AKIDCLIBOTOCORE00001', secretAccessKey: 'cli/Botocore+Compare0123456789abcdefghij' };
const TOKEN = 'FQoGZXIvYXdzEBotocore/compare+token==';

function botocoreMissing(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import botocore'], { timeout: 10_000, encoding: 'utf8' });
  if (r.error) return `${PYTHON} cannot run: ${r.error.message}`;
  if (r.status !== 0) return `botocore is not installed for ${PYTHON}`;
  return undefined;
}
const missing = botocoreMissing();

interface Captured {
  readonly method: string;
  readonly target: string;
  readonly headers: Array<[string, string]>;
  readonly body: Buffer;
}

interface ToResign {
  readonly kind: 'header' | 'query';
  readonly service: string;
  readonly region: string;
  readonly method: string;
  readonly url: string;
  readonly headers: Array<[string, string]>;
  readonly body: string;
  readonly amzDate: string;
  readonly expires?: number;
}

async function botocore(requests: readonly ToResign[], token?: string): Promise<string[]> {
  const arg = JSON.stringify({ ...KEY, ...(token ? { sessionToken: token } : {}), requests });
  const { stdout } = await execFileP(PYTHON, [join(REPO_ROOT, 'test/cli/botocore_resign.py'), arg], { timeout: 30_000 });
  return (JSON.parse(stdout) as { results: string[] }).results;
}

describe('portcullis request signs as botocore does', { skip: missing !== undefined && !IN_CI ? `${missing} (CI=true makes this fail)` : false }, () => {
  if (missing !== undefined) {
    it('botocore is available (required under CI)', () => assert.fail(missing));
    return;
  }
  let pki: Pki;
  let server: Server;
  let base: string;
  let work: string;
  const captured: Captured[] = [];

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'portcullis-boto-'));
    pki = await makePki(join(work, 'pki'));
    server = createServer({ cert: readFileSync(pki.serverCertFile), key: readFileSync(pki.serverKeyFile) }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        const headers: Array<[string, string]> = [];
        for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
        captured.push({ method: req.method ?? '', target: req.url ?? '', headers, body: Buffer.concat(chunks) });
        res.writeHead(200, { 'content-type': 'text/plain' }).end('captured');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `https://localhost:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    rmSync(work, { recursive: true, force: true });
  });

  const env = (token?: string) => cleanEnv({ HOME: work, AWS_ACCESS_KEY_ID: KEY.accessKeyId, AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey, ...(token ? { AWS_SESSION_TOKEN: token } : {}) });

  /** Sends with `portcullis request` and returns what the server got. */
  async function sendVia(args: readonly string[], token?: string): Promise<Captured> {
    const before = captured.length;
    const r = await cli(['request', ...args, '--ca-bundle', pki.caFile], { env: env(token), cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'captured');
    assert.equal(captured.length, before + 1);
    return captured.at(-1)!;
  }

  /** The request as botocore should sign it: the headers Portcullis signed, minus what the signer adds itself. */
  function forBotocore(c: Captured, service: string, region: string): { req: ToResign; authorization: string } {
    const get = (n: string) => c.headers.find(([k]) => k.toLowerCase() === n)?.[1];
    const authorization = get('authorization') ?? assert.fail('no Authorization sent');
    const signed = /SignedHeaders=([^,]+)/.exec(authorization)![1]!.split(';');
    const own = new Set(['host', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256', 'authorization']);
    return {
      authorization,
      req: {
        kind: 'header', service, region, method: c.method, url: `${base}${c.target}`,
        headers: c.headers.filter(([k]) => signed.includes(k.toLowerCase()) && !own.has(k.toLowerCase())),
        body: c.body.toString('base64'), amzDate: get('x-amz-date') ?? assert.fail('no X-Amz-Date sent'),
      },
    };
  }

  it('header-signed requests: STS form POST, a JSON PUT with an encoded path and headers, an S3 GET; with and without a session token', async () => {
    const cases: Array<{ args: string[]; service: string; region: string; token?: string }> = [
      { args: ['POST', `${base}/`, '--service', 'sts', '-d', 'Action=GetCallerIdentity&Version=2011-06-15'], service: 'sts', region: 'us-east-1' },
      { args: ['POST', `${base}/`, '--service', 'sts', '-d', 'Action=GetCallerIdentity&Version=2011-06-15'], service: 'sts', region: 'us-east-1', token: TOKEN },
      {
        args: ['PUT', `${base}/orders/a%20b/%E2%9C%93?z=1&a=two%20words&a=0&empty=`, '--service', 'execute-api', '--region', 'eu-west-1',
          '-H', 'Content-Type: application/json', '-H', 'X-Custom:   spaced    value  ', '-H', 'x-amz-meta-Tag: v1', '-d', '{"qty": 2, "note": "é"}'],
        service: 'execute-api', region: 'eu-west-1',
      },
      { args: [`${base}/bucket/key%20with%20space?list-type=2&prefix=dir%2F`, '--service', 's3'], service: 's3', region: 'us-east-1' },
      { args: ['DELETE', `${base}/2015-03-31/functions/my-fn`, '--service', 'lambda', '--region', 'ap-southeast-2'], service: 'lambda', region: 'ap-southeast-2', token: TOKEN },
    ];
    for (const c of cases) {
      const got = await sendVia(c.args, c.token);
      const { req, authorization } = forBotocore(got, c.service, c.region);
      const [theirs] = await botocore([req], c.token);
      assert.equal(authorization, theirs, `${c.args.join(' ')}: Portcullis and botocore disagree`);
      assert.match(authorization, new RegExp(`^AWS4-HMAC-SHA256 Credential=${KEY.accessKeyId}/\\d{8}/${c.region}/${c.service}/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$`));
    }
  });

  it('a changed body, header or path gives another botocore signature (the comparison can fail)', async () => {
    const got = await sendVia(['POST', `${base}/x`, '--service', 'sts', '-d', 'Action=GetCallerIdentity&Version=2011-06-15']);
    const { req, authorization } = forBotocore(got, 'sts', 'us-east-1');
    const variants = await botocore([
      { ...req, body: Buffer.from('Action=GetCallerIdentity&Version=2011-06-16').toString('base64') },
      { ...req, url: `${base}/y` },
      { ...req, region: 'us-east-2' },
      { ...req, amzDate: req.amzDate.replace(/\d(?=Z$)/, (d) => String((Number(d) + 1) % 10)) },
    ]);
    for (const v of variants) assert.notEqual(v, authorization);
  });

  it('presigned URLs: the same X-Amz-Signature as botocore\'s query signer', async () => {
    for (const [path, service, token] of [['/?Action=GetCallerIdentity&Version=2011-06-15', 'sts', undefined], ['/?Action=AssumeRole&RoleSessionName=a%20b&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fx', 'sts', TOKEN], ['/bucket/obj%20ect', 's3', undefined]] as const) {
      const r = await cli(['request', '--presign', `${base}${path}`, '--service', service, '--expires-in', '600', '--ca-bundle', pki.caFile], { env: env(token), cwd: work });
      assert.equal(r.code, 0, r.stderr);
      const url = new URL(r.stdout.trim());
      const q = url.searchParams;
      assert.equal(q.get('X-Amz-Expires'), '600');
      assert.equal(q.get('X-Amz-Security-Token') ?? undefined, token);
      // Give botocore the URL without the authentication parameters; it adds its own.
      const rawQuery = url.search.slice(1).split('&').filter((p) => !p.startsWith('X-Amz-')).join('&');
      const [theirs] = await botocore([{
        kind: 'query', service, region: 'us-east-1', method: 'GET', url: `${base}${url.pathname}${rawQuery ? `?${rawQuery}` : ''}`,
        headers: [], body: '', amzDate: q.get('X-Amz-Date')!, expires: 600,
      }], token);
      assert.equal(q.get('X-Amz-Signature'), theirs, `${path}: presigned signatures differ`);
    }
  });
});
