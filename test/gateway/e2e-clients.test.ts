/**
 * The gateway started as `npm start` starts it, called by real AWS clients: the AWS SDK for
 * JavaScript v3 and the AWS CLI, with the bootstrap credentials.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Agent, get, request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { GetAccessKeyInfoCommand, GetCallerIdentityCommand, STSClient, STSServiceException } from '@aws-sdk/client-sts';
import { Hash } from '@smithy/hash-node';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { removeDir, startGateway, type RunningGateway } from '../helpers/gateway.js';

const run = promisify(execFile);

function sts(gw: RunningGateway, credentials: { accessKeyId: string; secretAccessKey: string }): STSClient {
  return new STSClient({
    endpoint: gw.url,
    region: 'us-east-1',
    credentials,
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: gw.caPem }) }),
  });
}

async function sdkError(p: Promise<unknown>): Promise<STSServiceException> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof STSServiceException, `expected a service exception, got ${String(e)}`);
    return e;
  }
  assert.fail('the call succeeded');
}

function httpsText(gw: RunningGateway, method: string, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; body: string }> {
  const url = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const q = request({ host: url.hostname, port: url.port, method, path, headers, ca: gw.caPem }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    q.on('error', reject);
    q.end(body);
  });
}

function fetchText(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describe('real AWS clients against the gateway', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
    removeDir(gw.dataDir);
  });

  it('SDK: GetCallerIdentity returns the administrator', async () => {
    const out = await sts(gw, gw.admin).send(new GetCallerIdentityCommand({}));
    assert.match(out.Arn ?? '', /^arn:aws:iam::\d{12}:user\/admin$/);
    assert.equal(out.Account, out.Arn!.split(':')[4]);
    assert.match(out.UserId ?? '', /^AIDA[A-Z2-7]{17}$/);
  });

  it('SDK: GetAccessKeyInfo returns the account of a key', async () => {
    const me = await sts(gw, gw.admin).send(new GetCallerIdentityCommand({}));
    const out = await sts(gw, gw.admin).send(new GetAccessKeyInfoCommand({ AccessKeyId: gw.admin.accessKeyId }));
    assert.equal(out.Account, me.Account);
  });

  it('SDK: a wrong secret is SignatureDoesNotMatch (403)', async () => {
    const e = await sdkError(sts(gw, { ...gw.admin, secretAccessKey: gw.admin.secretAccessKey.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')) }).send(new GetCallerIdentityCommand({})));
    assert.equal(e.name, 'SignatureDoesNotMatch');
    assert.equal(e.$metadata.httpStatusCode, 403);
    assert.ok(e.$metadata.requestId, 'the error carries a request id');
  });

  it('SDK: an unknown key is InvalidClientTokenId (403)', async () => {
    const e = await sdkError(sts(gw, { accessKeyId: 'AKIAZZZZZZZZZZZZZZZZ', secretAccessKey: gw.admin.secretAccessKey }).send(new GetCallerIdentityCommand({})));
    assert.equal(e.name, 'InvalidClientTokenId');
    assert.equal(e.$metadata.httpStatusCode, 403);
  });

  it('a request signed for another service is refused', async () => {
    const url = new URL(gw.url);
    const signer = new SignatureV4({ credentials: gw.admin, region: 'us-east-1', service: 'lambda', sha256: Hash.bind(null, 'sha256') });
    const body = 'Action=GetCallerIdentity&Version=2011-06-15';
    const signed = await signer.sign(new HttpRequest({
      method: 'POST', protocol: 'https:', hostname: url.hostname, port: Number(url.port), path: '/',
      headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded' }, body,
    }));
    const res = await httpsText(gw, 'POST', '/', signed.headers, body);
    assert.equal(res.status, 403);
    assert.match(res.body, /<Code>SignatureDoesNotMatch<\/Code>/);
    assert.match(res.body, /Credential should be scoped to correct service/);
  });

  it('presigned GetCallerIdentity URL (signed by @smithy/signature-v4) works; an expired one fails', async () => {
    const url = new URL(gw.url);
    const signer = new SignatureV4({ credentials: gw.admin, region: 'us-east-1', service: 'sts', sha256: Hash.bind(null, 'sha256') });
    const request = new HttpRequest({
      method: 'GET', protocol: 'https:', hostname: url.hostname, port: Number(url.port), path: '/',
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' }, headers: { host: url.host },
    });
    const toUrl = (r: { query?: Record<string, unknown> }) => `${gw.url}/?${Object.entries(r.query ?? {}).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&')}`;

    const fresh = await signer.presign(request, { expiresIn: 300 });
    const ok = await fetchText(toUrl(fresh), gw.caPem);
    assert.equal(ok.status, 200, ok.body);
    assert.match(ok.body, /<Arn>arn:aws:iam::\d{12}:user\/admin<\/Arn>/);

    const stale = await signer.presign(request, { expiresIn: 60, signingDate: new Date(Date.now() - 10 * 60_000) });
    const expired = await fetchText(toUrl(stale), gw.caPem);
    assert.equal(expired.status, 403);
    assert.match(expired.body, /<Code>SignatureDoesNotMatch<\/Code>/);
    assert.match(expired.body, /expired/i);
    assert.match(expired.body, /<RequestId>[0-9a-f-]{36}<\/RequestId>/);
  });

  it('AWS CLI: sts get-caller-identity with the bootstrap credentials file, as SPEC §4 shows', async () => {
    const env = {
      ...process.env,
      AWS_SHARED_CREDENTIALS_FILE: join(gw.dataDir, 'credentials'),
      AWS_CA_BUNDLE: join(gw.dataDir, 'tls', 'cert.pem'),
      AWS_CONFIG_FILE: '/dev/null',
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_SESSION_TOKEN: '',
    };
    delete (env as Record<string, string | undefined>)['AWS_ACCESS_KEY_ID'];
    delete (env as Record<string, string | undefined>)['AWS_SECRET_ACCESS_KEY'];
    delete (env as Record<string, string | undefined>)['AWS_SESSION_TOKEN'];
    const { stdout } = await run('aws', ['--profile', 'portcullis', '--region', 'us-east-1', '--endpoint-url', gw.url, 'sts', 'get-caller-identity', '--output', 'json'], { env, timeout: 60_000 });
    const out = JSON.parse(stdout) as { Arn: string; Account: string };
    assert.match(out.Arn, /^arn:aws:iam::\d{12}:user\/admin$/);

    const bad = await run('aws', ['--region', 'us-east-1', '--endpoint-url', gw.url, 'sts', 'get-caller-identity'], {
      env: { ...env, AWS_ACCESS_KEY_ID: gw.admin.accessKeyId, AWS_SECRET_ACCESS_KEY: 'wrong-secret-wrong-secret-wrong-secret00' },
      timeout: 60_000,
    }).then(() => undefined, (e: { stderr: string; code: number }) => e);
    assert.ok(bad, 'a wrong secret must fail');
    assert.match(bad.stderr, /SignatureDoesNotMatch/);
  });

  it('every response carries a request id, and unauthenticated requests get MissingAuthenticationToken', async () => {
    const res = await fetchText(`${gw.url}/?Action=GetCallerIdentity&Version=2011-06-15`, gw.caPem);
    assert.equal(res.status, 403);
    assert.match(res.body, /<Code>MissingAuthenticationToken<\/Code>/);
    assert.doesNotMatch(res.body, /at \w+ \(|\.js:\d+/, 'no stack trace in the body');
  });
});
