/**
 * The data plane: the example Data Pipeline service behind Portcullis, called with the AWS SDK
 * (@aws-sdk/client-data-pipeline) and the AWS CLI through the gateway; authorization per action;
 * the upstream sees the signed identity and none of the caller's credentials; a dead or slow
 * upstream gives a clear error and the gateway keeps serving.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { Agent, get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CreatePipelineCommand, DataPipelineClient, DeletePipelineCommand, DescribePipelinesCommand, ListPipelinesCommand, type DataPipelineClientConfig } from '@aws-sdk/client-data-pipeline';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { verifyIdentity } from '../../src/gateway/identity.js';
import { Upstream } from '../../src/gateway/proxy.js';
import { removeDir, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { REPO_ROOT } from '../helpers/paths.js';

const run = promisify(execFile);
type Creds = { accessKeyId: string; secretAccessKey: string };

function fetchText(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => get(url, { ca }, (res) => {
    let body = '';
    res.on('data', (d: Buffer) => (body += d.toString()));
    res.on('end', () => resolve(body));
  }).on('error', reject));
}

function startUpstream(args: string[] = []): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, [join(REPO_ROOT, 'examples/datapipeline/server.mjs'), '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      const m = /listening on (http:\/\/\S+)/.exec(d.toString());
      if (m) resolve({ proc, url: m[1]! });
    });
    proc.once('exit', (code) => reject(new Error(`upstream exited with ${code}`)));
  });
}

describe('the data plane', () => {
  let work: string;
  let gw: RunningGateway;
  let upstream: { proc: ChildProcess; url: string };
  let slow: Server;
  let broken: Server;
  const handler = () => new NodeHttpHandler({ httpsAgent: new Agent({ ca: gw.caPem }) });
  const pipelines = (c: Creds) => new DataPipelineClient({ endpoint: gw.url, region: 'us-east-1', credentials: c, maxAttempts: 1, requestHandler: handler() });

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'portcullis-proxy-'));
    // The gateway publishes its identity key at first start; the upstream is told it afterwards.
    slow = createServer(() => { /* never answers */ });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
    const slowPort = (slow.address() as { port: number }).port;
    // Promises a long body, sends a little of it, then resets the connection.
    broken = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'content-length': '1000' });
      res.write('{"pipelineIdList": [');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    await new Promise<void>((r) => broken.listen(0, '127.0.0.1', () => r()));
    const brokenPort = (broken.address() as { port: number }).port;
    const config = join(work, 'config.json');
    const dataDir = join(work, 'data');
    // A first start only to learn the identity key, then the real start with the upstream in config.
    const first = await startGateway({ dataDir });
    const keyPem = await fetchText(`${first.url}/_portcullis/identity-key`, first.caPem);
    assert.equal(await first.stop(), 0);
    writeFileSync(join(work, 'identity.pem'), keyPem);
    upstream = await startUpstream(['--identity-key', join(work, 'identity.pem')]);
    writeFileSync(config, JSON.stringify({
      services: [
        { name: 'datapipeline', upstream: upstream.url, protocol: 'json1.1' },
        { name: 'deadservice', upstream: 'http://127.0.0.1:9', protocol: 'json1.1' },
        { name: 'slowservice', upstream: `http://127.0.0.1:${slowPort}`, protocol: 'json1.1', timeoutMs: 500 },
        { name: 'brokenservice', upstream: `http://127.0.0.1:${brokenPort}`, protocol: 'json1.1' },
      ],
    }));
    gw = await startGateway({ dataDir, args: ['--config', config] });
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
    upstream.proc.kill('SIGTERM');
    slow.close();
    broken.close();
    removeDir(gw.dataDir);
    rmSync(work, { recursive: true, force: true });
  });

  it('SDK: create, list, describe and delete pipelines through the gateway; the upstream sees a signed identity and no credentials', async () => {
    const client = pipelines(gw.admin);
    const created = await client.send(new CreatePipelineCommand({ name: 'nightly', uniqueId: 'nightly-1' }));
    assert.match(created.pipelineId!, /^df-/);
    const listed = await client.send(new ListPipelinesCommand({}));
    assert.ok(listed.pipelineIdList?.some((p) => p.id === created.pipelineId));
    const described = await client.send(new DescribePipelinesCommand({ pipelineIds: [created.pipelineId!] }));
    assert.equal(described.pipelineDescriptionList?.[0]?.name, 'nightly');
    assert.match(described.pipelineDescriptionList?.[0]?.fields?.find((f) => f.key === 'owner')?.stringValue ?? '', /:user\/admin$/);
    await client.send(new DeletePipelineCommand({ pipelineId: created.pipelineId! }));

    const seen = JSON.parse(await (await fetch(`${upstream.url}/_requests`)).text()) as Array<{ method: string; url: string; headers: Record<string, string> }>;
    const last = seen.at(-1)!;
    assert.equal(last.headers['x-portcullis-action'], 'datapipeline:DeletePipeline');
    assert.equal(last.headers['authorization'], undefined, 'the caller\'s Authorization stays at the gateway');
    assert.equal(last.headers['x-amz-security-token'], undefined);
    const keyPem = await fetchText(`${gw.url}/_portcullis/identity-key`, gw.caPem);
    assert.ok(verifyIdentity(keyPem, last.method, last.url, last.headers), 'the identity headers verify with the published key');
    assert.ok(!verifyIdentity(keyPem, last.method, last.url, { ...last.headers, 'x-portcullis-principal': 'arn:aws:iam::000000000000:user/mallory' }), 'and a changed identity does not');
  });

  it('concurrent calls share identity signatures (one per batch); the upstream accepts every one, and each verifies on its own', async () => {
    const client = pipelines(gw.admin);
    const keyPem = await fetchText(`${gw.url}/_portcullis/identity-key`, gw.caPem);
    let shared = 0;
    // Requests that reach the signer in the same turn are signed together; concurrent calls on warm
    // connections do, but when is up to the scheduler, so a few waves are allowed for one to.
    for (let wave = 0; wave < 8 && shared === 0; wave++) {
      await Promise.all(Array.from({ length: 24 }, () => client.send(new ListPipelinesCommand({}))));
      const seen = (JSON.parse(await (await fetch(`${upstream.url}/_requests`)).text()) as Array<{ method: string; url: string; headers: Record<string, string> }>).slice(-24);
      for (const r of seen) assert.ok(verifyIdentity(keyPem, r.method, r.url, r.headers), 'every request verifies on its own');
      const bySignature = new Map<string, number>();
      for (const r of seen) bySignature.set(r.headers['x-portcullis-identity-signature']!, (bySignature.get(r.headers['x-portcullis-identity-signature']!) ?? 0) + 1);
      shared = Math.max(...bySignature.values());
      if (shared > 1) {
        const batch = seen.filter((r) => bySignature.get(r.headers['x-portcullis-identity-signature']!) === shared);
        assert.ok(batch.every((r) => r.headers['x-portcullis-identity-proof'] !== ''), 'a request of a batch carries its path to the root');
        assert.equal(new Set(batch.map((r) => r.headers['x-portcullis-request-id'])).size, batch.length, 'each with its own request id');
      } else shared = 0;
    }
    assert.ok(shared > 1, 'some concurrent requests were signed together');
  });

  it('an upstream URL with a path of its own: requests go under it, and the identity is signed for that path', () => {
    const svc = { name: 'based', upstream: 'http://127.0.0.1:1/base/', protocol: 'json1.1' as const, maxBodyBytes: 1, timeoutMs: 1, account: undefined, routes: [], resourcePolicies: [] };
    const based = new Upstream(svc);
    assert.equal(based.pathOf('/'), '/base/');
    assert.equal(based.pathOf('/x?y=1'), '/base/x?y=1');
    assert.equal(new Upstream({ ...svc, upstream: 'http://127.0.0.1:1' }).pathOf('/x'), '/x');
    based.close();
  });

  it('a user allowed only datapipeline:List* gets AccessDenied on create; spoofed identity headers and request ids are dropped', async () => {
    const admin = new IAMClient({ endpoint: gw.url, region: 'us-east-1', credentials: gw.admin, maxAttempts: 1, requestHandler: handler() });
    await admin.send(new CreateUserCommand({ UserName: 'viewer' }));
    await admin.send(new PutUserPolicyCommand({ UserName: 'viewer', PolicyName: 'list', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'datapipeline:List*', Resource: '*' }] }) }));
    const k = (await admin.send(new CreateAccessKeyCommand({ UserName: 'viewer' }))).AccessKey!;
    const viewer = pipelines({ accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! });
    await viewer.send(new ListPipelinesCommand({}));
    const denied = await viewer.send(new CreatePipelineCommand({ name: 'x', uniqueId: 'x' })).then(() => undefined, (e: Error & { $metadata?: { httpStatusCode?: number } }) => e);
    assert.ok(denied);
    assert.equal(denied.name, 'AccessDeniedException');
    assert.equal(denied.$metadata?.httpStatusCode, 400);
    assert.match(denied.message, /not authorized to perform: datapipeline:CreatePipeline/);

    // A caller cannot pass its own identity headers through.
    viewer.middlewareStack.add((next) => async (args) => {
      (args.request as { headers: Record<string, string> }).headers['x-portcullis-principal'] = 'arn:aws:iam::000000000000:user/root';
      (args.request as { headers: Record<string, string> }).headers['x-amzn-requestid'] = 'forged';
      return next(args);
    }, { step: 'build' });
    await viewer.send(new ListPipelinesCommand({}));
    const seen = JSON.parse(await (await fetch(`${upstream.url}/_requests`)).text()) as Array<{ headers: Record<string, string> }>;
    assert.match(seen.at(-1)!.headers['x-portcullis-principal']!, /:user\/viewer$/);
    // Nor a request id: the upstream gets the gateway's, once.
    assert.equal(seen.at(-1)!.headers['x-amzn-requestid'], seen.at(-1)!.headers['x-portcullis-request-id']);
  });

  it('AWS CLI: datapipeline commands through the gateway', async () => {
    const env: Record<string, string | undefined> = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: join(gw.dataDir, 'credentials'), AWS_CA_BUNDLE: join(gw.dataDir, 'tls', 'cert.pem'), AWS_CONFIG_FILE: '/dev/null' };
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete env[k];
    const cli = async (args: string[]) => JSON.parse((await run('aws', ['--profile', 'portcullis', '--region', 'us-east-1', '--endpoint-url', gw.url, '--output', 'json', ...args], { env, timeout: 60_000 })).stdout || '{}') as Record<string, unknown>;
    const created = await cli(['datapipeline', 'create-pipeline', '--name', 'from-cli', '--unique-id', 'cli-1']);
    assert.match(String(created['pipelineId']), /^df-/);
    const listed = await cli(['datapipeline', 'list-pipelines']);
    assert.ok((listed['pipelineIdList'] as Array<{ name: string }>).some((p) => p.name === 'from-cli'));
  });

  it('a dead upstream is 502, a slow one 504, one that breaks off mid-response an error, and the gateway keeps serving', async () => {
    const call = (service: string) => new DataPipelineClient({
      endpoint: gw.url, region: 'us-east-1', credentials: gw.admin, maxAttempts: 1, requestHandler: handler(),
      // The SDK signs for the endpoint's service; point it at another service name in the scope.
      signingName: service,
    } as DataPipelineClientConfig).send(new ListPipelinesCommand({})).then(() => assert.fail('answered'), (e: Error & { $metadata?: { httpStatusCode?: number } }) => e);
    const broken = await call('brokenservice');
    assert.ok(broken instanceof Error, 'a response cut off mid-body is an error for the caller, not a short success');
    const dead = await call('deadservice');
    assert.equal(dead.$metadata?.httpStatusCode, 502);
    assert.equal(dead.name, 'BadGatewayException');
    const started = Date.now();
    const slowErr = await call('slowservice');
    assert.equal(slowErr.$metadata?.httpStatusCode, 504);
    assert.ok(Date.now() - started < 5000, 'the timeout is the service\'s, not the caller\'s');
    await pipelines(gw.admin).send(new ListPipelinesCommand({}));
  });
});

describe('the data plane with large bodies', () => {
  it('100 MB with a declared hash streams through with flat memory; a body that does not match never completes upstream', async () => {
    const { createHash } = await import('node:crypto');
    const { request } = await import('node:https');
    const { readFileSync } = await import('node:fs');
    const { Signer } = await import('../../src/sigv4/sign.js');
    let completed = 0;
    let bytes = 0;
    const sink = createServer((req, res) => {
      req.on('data', (c: Buffer) => (bytes += c.length));
      req.on('end', () => {
        completed++;
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ received: bytes }));
      });
      req.on('error', () => {});
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
    const work = mkdtempSync(join(tmpdir(), 'portcullis-stream-'));
    const config = join(work, 'config.json');
    writeFileSync(config, JSON.stringify({ services: [{ name: 'bulk', upstream: `http://127.0.0.1:${(sink.address() as { port: number }).port}`, maxBodyBytes: 200 * 1024 * 1024 }] }));
    const gw = await startGateway({ dataDir: join(work, 'data'), args: ['--config', config] });
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${gw.proc.pid}/status`, 'utf8'))![1]) * 1024;
    try {
      const MB = 1024 * 1024;
      const chunk = Buffer.alloc(MB, 'portcullis');
      const total = 100;
      const hash = createHash('sha256');
      for (let i = 0; i < total; i++) hash.update(chunk);
      const url = new URL(gw.url);
      const send = (declared: string) => {
        const signed = new Signer().sign(
          { method: 'POST', path: '/', headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'Bulk.Upload', 'content-length': String(total * MB) } },
          { credentials: gw.admin, region: 'us-east-1', service: 'bulk', payloadHash: declared, contentSha256Header: true },
        );
        return new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = request({ host: url.hostname, port: url.port, method: 'POST', path: '/', headers: signed.headers as Record<string, string>, ca: gw.caPem }, (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          });
          req.on('error', reject);
          let i = 0;
          const pump = () => {
            while (i < total) {
              i++;
              if (!req.write(chunk)) return void req.once('drain', pump);
            }
            req.end();
          };
          pump();
        });
      };
      const before = rss();
      const ok = await send(hash.digest('hex'));
      assert.equal(ok.status, 200, ok.body);
      assert.equal(JSON.parse(ok.body).received, total * MB);
      const grown = rss() - before;
      assert.ok(grown < 64 * MB, `the gateway grew by ${Math.round(grown / MB)} MB for a ${total} MB body`);

      const seenBefore = completed;
      const bad = await send('0'.repeat(64));
      assert.equal(bad.status, 400);
      assert.match(bad.body, /XAmzContentSHA256Mismatch/);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(completed, seenBefore, 'the upstream never got a complete request with the wrong body');
    } finally {
      assert.equal(await gw.stop(), 0);
      sink.close();
      rmSync(work, { recursive: true, force: true });
    }
  });
});

describe('an upstream behind a base path', () => {
  it('requests go under the base path, and the identity is signed for the path the upstream receives', async () => {
    const work = mkdtempSync(join(tmpdir(), 'portcullis-base-'));
    const dataDir = join(work, 'data');
    let upstream: { proc: ChildProcess; url: string } | undefined;
    let gw: RunningGateway | undefined;
    try {
      const first = await startGateway({ dataDir });
      const keyPem = await fetchText(`${first.url}/_portcullis/identity-key`, first.caPem);
      assert.equal(await first.stop(), 0);
      writeFileSync(join(work, 'identity.pem'), keyPem);
      // The example upstream refuses (403) any request whose identity does not verify for the path it received.
      upstream = await startUpstream(['--identity-key', join(work, 'identity.pem')]);
      writeFileSync(join(work, 'config.json'), JSON.stringify({ services: [{ name: 'datapipeline', upstream: `${upstream.url}/base`, protocol: 'json1.1' }] }));
      gw = await startGateway({ dataDir, args: ['--config', join(work, 'config.json')] });
      const client = new DataPipelineClient({ endpoint: gw.url, region: 'us-east-1', credentials: gw.admin, maxAttempts: 1, requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: gw.caPem }) }) });
      const listed = await client.send(new ListPipelinesCommand({}));
      assert.deepEqual(listed.pipelineIdList, []);
      const seen = JSON.parse(await (await fetch(`${upstream.url}/_requests`)).text()) as Array<{ method: string; url: string; headers: Record<string, string> }>;
      const last = seen.at(-1)!;
      assert.equal(last.url, '/base/');
      assert.ok(verifyIdentity(keyPem, 'POST', '/base/', last.headers));
      assert.ok(!verifyIdentity(keyPem, 'POST', '/', last.headers), 'not for the path the caller sent');
    } finally {
      if (gw !== undefined) assert.equal(await gw.stop(), 0);
      upstream?.proc.kill('SIGTERM');
      rmSync(work, { recursive: true, force: true });
    }
  });
});
