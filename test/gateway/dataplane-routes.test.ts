/**
 * Data-plane authorization beyond `*`: routes that name resource ARNs from the request, request
 * values and tags as condition keys, resource-based policies from the config, REST routes, and
 * a config reload (SIGHUP) without a restart. Real gateway, real AWS SDK clients, the example
 * Data Pipeline service as the upstream.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server } from 'node:http';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CreatePipelineCommand, DataPipelineClient, DeletePipelineCommand, DescribePipelinesCommand, ListPipelinesCommand,
} from '@aws-sdk/client-data-pipeline';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { accountOfKeyId } from '../../src/core/ids.js';
import { requestParams } from '../../src/api/query.js';
import { expand, parseJsonBody, parseTemplate, ServiceRoutes, type RequestValues } from '../../src/gateway/routes.js';
import fc from 'fast-check';
import { HeaderMap } from '../../src/sigv4/canonicalHeaders.js';
import { Signer } from '../../src/sigv4/sign.js';
import { removeDir, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { call as send } from '../helpers/signedRequest.js';

type Creds = { accessKeyId: string; secretAccessKey: string };

function values(over: Partial<RequestValues> = {}): RequestValues {
  return { region: 'us-east-1', account: '123456789012', path: {}, query: new Map(), repeated: new Set(), headers: HeaderMap.fromRecord({}), body: undefined, ...over };
}

describe('route templates', () => {
  it('expand fills region, account, path, query, header and body values; a body array gives one value each', () => {
    const t = parseTemplate('arn:aws:svc:{region}:{account}:thing/{path.id}/{query.v}/{header.X-Tenant}');
    assert.deepEqual(expand(t, values({ path: { id: 'a b' }, query: new Map([['v', '7']]), headers: HeaderMap.fromRecord({ 'x-tenant': 't1' }) })), ['arn:aws:svc:us-east-1:123456789012:thing/a b/7/t1']);
    const many = parseTemplate('arn:aws:svc:{region}:{account}:thing/{body.ids}');
    assert.deepEqual(expand(many, values({ body: { ids: ['x', 'y'] } })), ['arn:aws:svc:us-east-1:123456789012:thing/x', 'arn:aws:svc:us-east-1:123456789012:thing/y']);
    assert.deepEqual(expand(parseTemplate('{body.a.b}'), values({ body: { a: { b: 3 } } })), ['3']);
    // A missing value is no value: the caller must not be authorized on a guess.
    assert.equal(expand(many, values({ body: {} })), undefined);
    assert.equal(expand(many, values({ body: { ids: [] } })), undefined);
    assert.equal(expand(parseTemplate('{body.a.b}'), values({ body: { a: 'flat' } })), undefined);
    assert.equal(expand(parseTemplate('{body.constructor}'), values({ body: {} })), undefined, 'only own fields');
    // A parameter sent twice is refused: frameworks differ on which of the two counts.
    const { params, repeated } = requestParams(Buffer.from('id=a&x=1'), 'application/x-www-form-urlencoded', 'id=b');
    assert.deepEqual([params.get('id'), [...repeated]], ['a', ['id']]);
    assert.throws(() => expand(parseTemplate('thing/{query.id}'), values({ query: params, repeated })), /appears more than once/);
    assert.deepEqual(expand(parseTemplate('thing/{query.x}'), values({ query: params, repeated })), ['thing/1']);
    assert.throws(() => expand(parseTemplate('{header.x-tenant}'), values({ headers: HeaderMap.fromRaw(['X-Tenant', 'a', 'x-tenant', 'b']) })), /appears more than once/);
  });

  it('JSON bodies that routes read: any JSON is taken as is; a name twice in one object, or invalid UTF-8, is refused', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      const text = JSON.stringify(v);
      assert.deepEqual(parseJsonBody(Buffer.from(text))?.value, JSON.parse(text));
    }), { numRuns: 300 });
    fc.assert(fc.property(fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue(), { minKeys: 1, maxKeys: 4 }), fc.jsonValue(), (o, extra) => {
      const text = JSON.stringify(o);
      const name = Object.keys(o)[0]!;
      // The same name once more, as the last member of the outer object and nested one level down.
      assert.equal(parseJsonBody(Buffer.from(`${text.slice(0, -1)},${JSON.stringify(name)}:${JSON.stringify(extra)}}`)), undefined);
      assert.equal(parseJsonBody(Buffer.from(`{"outer":${text.slice(0, -1)},${JSON.stringify(name)}:1}}`)), undefined);
    }), { numRuns: 300 });
    assert.equal(parseJsonBody(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), undefined, 'invalid UTF-8');
    assert.deepEqual(parseJsonBody(Buffer.from('{"a":"x\\":y","b":{"c":":"}}'))?.value, { a: 'x":y', b: { c: ':' } });
  });

  it('templates with unknown sources or loose braces are refused', () => {
    assert.throws(() => parseTemplate('{secret}'), /unknown placeholder/);
    assert.throws(() => parseTemplate('{body}'), /needs a name/);
    assert.throws(() => parseTemplate('arn:{region'), /unbalanced/);
  });

  it('REST routes match method and path; {x} is one segment, {x+} the rest; parameters are decoded', () => {
    const routes = new ServiceRoutes({
      name: 'widgets', upstream: 'http://127.0.0.1:1', protocol: 'rest-json', maxBodyBytes: 1, timeoutMs: 1, account: undefined, resourcePolicies: [],
      routes: [
        { match: 'GET /widgets/{id}', action: 'GetWidget', resource: 'arn:aws:widgets:{region}:{account}:widget/{path.id}' },
        { match: 'PUT /files/{key+}', action: 'PutFile' },
      ],
    });
    assert.deepEqual(routes.forPath('GET', '/widgets/w%201')?.params, { id: 'w 1' });
    assert.equal(routes.forPath('GET', '/widgets/a/b'), undefined);
    assert.equal(routes.forPath('DELETE', '/widgets/w1'), undefined);
    assert.deepEqual(routes.forPath('PUT', '/files/a/b/c.txt')?.params, { key: 'a/b/c.txt' });
    assert.throws(() => new ServiceRoutes({
      name: 'widgets', upstream: 'http://127.0.0.1:1', protocol: 'rest-json', maxBodyBytes: 1, timeoutMs: 1, account: undefined, resourcePolicies: [],
      routes: [{ match: 'GET /widgets/{id}', action: 'GetWidget', resource: 'arn:aws:widgets:::widget/{path.other}' }],
    }), /not a parameter/);
  });

  it('the config refuses bad routes and bad resource policies with a message naming them', () => {
    const work = mkdtempSync(join(tmpdir(), 'portcullis-routes-'));
    try {
      const load = (services: unknown) => {
        const file = join(work, 'c.json');
        writeFileSync(file, JSON.stringify({ services }));
        return loadConfig({ argv: ['--config', file], env: {}, cwd: work });
      };
      const svc = { name: 'datapipeline', upstream: 'http://127.0.0.1:1' };
      assert.throws(() => load([{ ...svc, routes: [{ match: 'Create Pipeline' }] }]), (e) => e instanceof ConfigError && /services\[0\]\.routes/.test(e.message));
      assert.throws(() => load([{ ...svc, routes: [{ match: 'X', resource: '{nope.x}' }] }]), (e) => e instanceof ConfigError && /unknown placeholder/.test(e.message));
      assert.throws(() => load([{ ...svc, routes: [{ match: 'X', typo: 1 }] }]), (e) => e instanceof ConfigError && /routes\[0\]\.typo/.test(e.message));
      assert.throws(() => load([{ ...svc, routes: [{ match: 'X', conditions: { 'aws:ResourceTag/env': '{body.env}' } }] }]), (e) => e instanceof ConfigError && /global condition key/.test(e.message));
      for (const bad of ['tags', 'http://elsewhere/tags', '/tags?x=1', 7]) {
        assert.throws(() => load([{ ...svc, resourceTags: bad }]), (e) => e instanceof ConfigError && /services\[0\]\.resourceTags/.test(e.message), String(bad));
      }
      assert.throws(() => load([{ ...svc, protocol: 'rest-json', routes: [{ match: 'GET /x' }] }]), (e) => e instanceof ConfigError && /needs an `action`/.test(e.message));
      assert.throws(() => load([{ ...svc, resourcePolicies: [{ resource: 'arn:aws:datapipeline:*:*:pipeline/*', policy: { Statement: 'no' } }] }]), (e) => e instanceof ConfigError && /resourcePolicies\[0\]\.policy/.test(e.message));
      const ok = load([{ ...svc, routes: [{ match: 'CreatePipeline', resource: 'arn:aws:datapipeline:{region}:{account}:pipeline/*', requestTags: '{body.tags}' }] }]);
      assert.equal(ok.services[0]!.routes.length, 1);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});

function startUpstream(): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, [join(REPO_ROOT, 'examples/datapipeline/server.mjs'), '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      const m = /listening on (http:\/\/\S+)/.exec(d.toString());
      if (m) resolve({ proc, url: m[1]! });
    });
    proc.once('exit', (code) => reject(new Error(`upstream exited with ${code}`)));
  });
}

const PIPELINE_ARN = 'arn:aws:datapipeline:{region}:{account}:pipeline';

describe('data-plane authorization with routes, request values and resource policies', () => {
  let work: string;
  let configFile: string;
  let gw: RunningGateway;
  let upstream: { proc: ChildProcess; url: string };
  let widgets: Server;
  let widgetsSeen: string[];
  let account: string;
  let alice: Creds;
  let bob: Creds;
  const handler = () => new NodeHttpHandler({ httpsAgent: new Agent({ ca: gw.caPem }) });
  const pipelines = (c: Creds) => new DataPipelineClient({ endpoint: gw.url, region: 'us-east-1', credentials: c, maxAttempts: 1, requestHandler: handler() });

  const services = (extra: { resourcePolicies?: unknown[] } = {}) => [
    {
      name: 'datapipeline', upstream: upstream.url, protocol: 'json1.1', resourceTags: '/_portcullis/resource-tags',
      routes: [
        { match: 'CreatePipeline', resource: `${PIPELINE_ARN}/*`, requestTags: '{body.tags}', conditions: { 'datapipeline:PipelineName': '{body.name}' } },
        { match: 'DescribePipelines', resource: `${PIPELINE_ARN}/{body.pipelineIds}` },
        { match: 'DeletePipeline', resource: `${PIPELINE_ARN}/{body.pipelineId}` },
      ],
      resourcePolicies: extra.resourcePolicies ?? [],
    },
    {
      name: 'widgets', upstream: `http://127.0.0.1:${(widgets.address() as { port: number }).port}`, protocol: 'rest-json',
      routes: [{ match: 'GET /widgets/{id}', action: 'GetWidget', resource: 'arn:aws:widgets:{region}:{account}:widget/{path.id}' }],
    },
    {
      // The same server, which has no such tag path: a service that cannot tell its resources' tags.
      name: 'gadgets', upstream: `http://127.0.0.1:${(widgets.address() as { port: number }).port}`, protocol: 'rest-json', resourceTags: '/_tags',
      routes: [{ match: 'GET /gadgets/{id}', action: 'GetGadget', resource: 'arn:aws:gadgets:{region}:{account}:gadget/{path.id}' }],
    },
  ];

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'portcullis-routes-'));
    upstream = await startUpstream();
    widgetsSeen = [];
    widgets = createServer((req: IncomingMessage, res) => {
      if (req.url?.startsWith('/_tags?') === true) {
        // As a server without that path answers: a 404 must not read as "no tags".
        res.writeHead(404);
        res.end();
        return;
      }
      widgetsSeen.push(`${req.method} ${req.url} ${String(req.headers['x-portcullis-action'])}`);
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: req.url?.split('/').pop() }));
    });
    await new Promise<void>((r) => widgets.listen(0, '127.0.0.1', () => r()));
    configFile = join(work, 'config.json');
    writeFileSync(configFile, JSON.stringify({ services: services() }));
    gw = await startGateway({ dataDir: join(work, 'data'), args: ['--config', configFile] });
    account = accountOfKeyId(gw.admin.accessKeyId)!;

    const iam = new IAMClient({ endpoint: gw.url, region: 'us-east-1', credentials: gw.admin, maxAttempts: 1, requestHandler: handler() });
    const user = async (name: string, statements: unknown[]): Promise<Creds> => {
      await iam.send(new CreateUserCommand({ UserName: name }));
      if (statements.length > 0) {
        await iam.send(new PutUserPolicyCommand({ UserName: name, PolicyName: 'p', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: statements }) }));
      }
      const k = await iam.send(new CreateAccessKeyCommand({ UserName: name }));
      return { accessKeyId: k.AccessKey!.AccessKeyId!, secretAccessKey: k.AccessKey!.SecretAccessKey! };
    };
    // alice may create pipelines only tagged team=blue and named ok-*, and describe only the
    // pipelines tagged by ARN in her policy (filled in per test through the resource ARN).
    alice = await user('alice', [
      { Effect: 'Allow', Action: 'datapipeline:CreatePipeline', Resource: '*', Condition: { StringEquals: { 'aws:RequestTag/team': 'blue' }, StringLike: { 'datapipeline:PipelineName': 'ok-*' }, 'ForAllValues:StringEquals': { 'aws:TagKeys': ['team'] } } },
      { Effect: 'Allow', Action: 'datapipeline:DescribePipelines', Resource: 'arn:aws:datapipeline:us-east-1:*:pipeline/df-alice*' },
      { Effect: 'Allow', Action: 'widgets:GetWidget', Resource: 'arn:aws:widgets:us-east-1:*:widget/w1' },
      { Effect: 'Allow', Action: 'datapipeline:ListPipelines', Resource: '*' },
    ]);
    bob = await user('bob', []);
  });

  after(async () => {
    assert.equal(await gw.stop(), 0);
    upstream.proc.kill('SIGTERM');
    widgets.close();
    removeDir(gw.dataDir);
    rmSync(work, { recursive: true, force: true });
  });

  it('conditions on the request: aws:RequestTag, aws:TagKeys and a value of the body decide CreatePipeline', async () => {
    const client = pipelines(alice);
    const made = await client.send(new CreatePipelineCommand({ name: 'ok-nightly', uniqueId: 'u1', tags: [{ key: 'team', value: 'blue' }] }));
    assert.match(made.pipelineId!, /^df-/);
    const refused = (input: ConstructorParameters<typeof CreatePipelineCommand>[0]) =>
      assert.rejects(client.send(new CreatePipelineCommand(input)), (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(e.name, 'AccessDeniedException');
        assert.equal(e.$metadata?.httpStatusCode, 400);
        assert.match(e.message, /datapipeline:CreatePipeline on resource: arn:aws:datapipeline:us-east-1:\d{12}:pipeline\/\*/);
        return true;
      });
    await refused({ name: 'ok-nightly', uniqueId: 'u2', tags: [{ key: 'team', value: 'red' }] });
    await refused({ name: 'ok-nightly', uniqueId: 'u3' });
    await refused({ name: 'nightly', uniqueId: 'u4', tags: [{ key: 'team', value: 'blue' }] });
    await refused({ name: 'ok-nightly', uniqueId: 'u5', tags: [{ key: 'team', value: 'blue' }, { key: 'cost', value: 'x' }] });
  });

  it('resources from the body: DescribePipelines is authorized on every pipeline it names', async () => {
    const admin = pipelines(gw.admin);
    const mine = (await admin.send(new CreatePipelineCommand({ name: 'a', uniqueId: 'a' }))).pipelineId!;
    const other = (await admin.send(new CreatePipelineCommand({ name: 'b', uniqueId: 'b' }))).pipelineId!;
    // The example service names pipelines df-<random>; alice's policy covers df-alice*, so
    // neither is hers until the policy names one by its ARN.
    const iam = new IAMClient({ endpoint: gw.url, region: 'us-east-1', credentials: gw.admin, maxAttempts: 1, requestHandler: handler() });
    await iam.send(new PutUserPolicyCommand({ UserName: 'alice', PolicyName: 'one', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'datapipeline:DescribePipelines', Resource: `arn:aws:datapipeline:us-east-1:${account}:pipeline/${mine}` }] }) }));
    const client = pipelines(alice);
    await waitFor(async () => {
      const out = await client.send(new DescribePipelinesCommand({ pipelineIds: [mine] }));
      assert.equal(out.pipelineDescriptionList?.[0]?.pipelineId, mine);
    });
    await assert.rejects(client.send(new DescribePipelinesCommand({ pipelineIds: [mine, other] })), (e: Error) => e.name === 'AccessDeniedException' && e.message.includes(`pipeline/${other}`));
    await assert.rejects(client.send(new DescribePipelinesCommand({ pipelineIds: [other] })), { name: 'AccessDeniedException' });
    // One name twice: parsers differ on which wins, so the gateway refuses rather than guess.
    const twice = await signedJson(gw, alice, 'DataPipeline.DescribePipelines', `{"pipelineIds":["${mine}"],"pipelineIds":["${other}"]}`);
    assert.equal(twice.status, 400);
    assert.match(twice.body, /ValidationException/);
    // An awsJson operation is authorized by its name alone, so no other path may reach the upstream.
    const elsewhere = await signedJson(gw, gw.admin, 'DataPipeline.ListPipelines', '{}', '/admin/reset');
    assert.equal(elsewhere.status, 400);
    assert.match(elsewhere.body, /ValidationException/);
    // A request that names no pipeline is refused, not authorized on a guess.
    await assert.rejects(client.send(new DescribePipelinesCommand({ pipelineIds: [] })), (e: Error & { $metadata?: { httpStatusCode?: number } }) => e.name === 'ValidationException' && e.$metadata?.httpStatusCode === 400);
  });

  it("conditions on the upstream's resource tags: aws:ResourceTag as the service tells it, asked only for policies that read it; a service that cannot tell is a 502", async () => {
    const admin = pipelines(gw.admin);
    const dev = (await admin.send(new CreatePipelineCommand({ name: 'dev', uniqueId: 'tag-dev', tags: [{ key: 'env', value: 'dev' }] }))).pipelineId!;
    const prod = (await admin.send(new CreatePipelineCommand({ name: 'prod', uniqueId: 'tag-prod', tags: [{ key: 'env', value: 'prod' }] }))).pipelineId!;
    const untagged = (await admin.send(new CreatePipelineCommand({ name: 'none', uniqueId: 'tag-none' }))).pipelineId!;
    const iam = new IAMClient({ endpoint: gw.url, region: 'us-east-1', credentials: gw.admin, maxAttempts: 1, requestHandler: handler() });
    await iam.send(new CreateUserCommand({ UserName: 'carol' }));
    await iam.send(new PutUserPolicyCommand({ UserName: 'carol', PolicyName: 'dev-only', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [
      { Effect: 'Allow', Action: ['datapipeline:DescribePipelines', 'datapipeline:DeletePipeline'], Resource: '*', Condition: { StringEquals: { 'aws:ResourceTag/env': 'dev' } } },
    ] }) }));
    const k = await iam.send(new CreateAccessKeyCommand({ UserName: 'carol' }));
    const carol = pipelines({ accessKeyId: k.AccessKey!.AccessKeyId!, secretAccessKey: k.AccessKey!.SecretAccessKey! });

    const out = await carol.send(new DescribePipelinesCommand({ pipelineIds: [dev] }));
    assert.equal(out.pipelineDescriptionList?.[0]?.pipelineId, dev);
    for (const ids of [[prod], [untagged], [dev, prod]]) {
      await assert.rejects(carol.send(new DescribePipelinesCommand({ pipelineIds: ids })), (e: Error) => e.name === 'AccessDeniedException' && !e.message.includes(`pipeline/${dev} `), ids.join(','));
    }
    await assert.rejects(carol.send(new DeletePipelineCommand({ pipelineId: prod })), { name: 'AccessDeniedException' });
    await carol.send(new DeletePipelineCommand({ pipelineId: dev }));
    // Gone: once the gateway asks again (tags are kept a second), the service knows no such
    // pipeline, so it has no tags and the condition no longer holds.
    await waitFor(() => assert.rejects(carol.send(new DeletePipelineCommand({ pipelineId: dev })), { name: 'AccessDeniedException' }));

    const gadget = (creds: Creds) => {
      const path = '/gadgets/g1';
      const signed = new Signer().sign({ method: 'GET', path, headers: { host: new URL(gw.url).host } }, { credentials: creds, region: 'us-east-1', service: 'gadgets' });
      return send(gw, { method: 'GET', path, headers: signed.headers as OutgoingHttpHeaders });
    };
    // The administrator's policies never read a resource's tags: no lookup, so the broken tag path does not matter.
    assert.equal((await gadget(gw.admin)).status, 200);
    // carol's do: her request needs the tags, the service cannot tell them (a 404), and the request stops there.
    const before = widgetsSeen.length;
    const r = await gadget({ accessKeyId: k.AccessKey!.AccessKeyId!, secretAccessKey: k.AccessKey!.SecretAccessKey! });
    assert.equal(r.status, 502, r.body);
    assert.match(r.body, /did not tell the tags of arn:aws:gadgets:us-east-1:\d{12}:gadget\/g1 \(status 404\)/);
    assert.equal(widgetsSeen.length, before, 'the request itself never reached the upstream');
  });

  it('REST routes: action and resource from the path; an unknown route is refused after the signature', async () => {
    const call = (path: string, creds: Creds) => {
      const signed = new Signer().sign({ method: 'GET', path, headers: { host: new URL(gw.url).host } }, { credentials: creds, region: 'us-east-1', service: 'widgets' });
      return send(gw, { method: 'GET', path, headers: signed.headers as OutgoingHttpHeaders });
    };
    const ok = await call('/widgets/w1', alice);
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body), { id: 'w1' });
    assert.equal(widgetsSeen.at(-1), 'GET /widgets/w1 widgets:GetWidget');
    const denied = await call('/widgets/w2', alice);
    assert.equal(denied.status, 400);
    assert.match(denied.body, /AccessDenied/);
    assert.match(denied.body, /widgets:GetWidget on resource: arn:aws:widgets:us-east-1:\d{12}:widget\/w2/);
    const unknown = await call('/gadgets/1', alice);
    assert.equal(unknown.status, 400);
    assert.match(unknown.body, /UnknownOperationException/);
    const seen = widgetsSeen.length;
    const forged = await call('/widgets/w1', { ...alice, secretAccessKey: 'wrong' + alice.secretAccessKey.slice(5) });
    assert.match(forged.body, /InvalidSignatureException|SignatureDoesNotMatch/);
    assert.equal(widgetsSeen.length, seen, 'nothing reaches the upstream without a valid signature');
  });

  it('resource-based policies in the config, and a reload with SIGHUP that applies them without a restart', async () => {
    const admin = pipelines(gw.admin);
    const id = (await admin.send(new CreatePipelineCommand({ name: 'shared', uniqueId: 'shared' }))).pipelineId!;
    // bob has no identity policy at all.
    await assert.rejects(pipelines(bob).send(new DeletePipelineCommand({ pipelineId: id })), { name: 'AccessDeniedException' });

    const bobArn = `arn:aws:iam::${account}:user/bob`;
    writeFileSync(configFile, JSON.stringify({
      services: services({
        resourcePolicies: [
          { resource: `arn:aws:datapipeline:*:*:pipeline/${id}`, policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: bobArn }, Action: 'datapipeline:DeletePipeline', Resource: '*' }] } },
          // An explicit deny in a resource policy beats the admin's identity allow.
          { resource: 'arn:aws:datapipeline:*:*:pipeline/df-*', policy: { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: '*', Action: 'datapipeline:DescribePipelines', Resource: '*' }] } },
        ],
      }),
    }));
    gw.proc.kill('SIGHUP');
    await waitFor(() => assert.match(gw.stderr(), /reloaded services/));
    // Same account: the resource policy alone allows bob.
    await pipelines(bob).send(new DeletePipelineCommand({ pipelineId: id }));
    await assert.rejects(admin.send(new DescribePipelinesCommand({ pipelineIds: [(await admin.send(new CreatePipelineCommand({ name: 'x', uniqueId: 'x' }))).pipelineId!] })), { name: 'AccessDeniedException' });

    // A config that does not load keeps the running services.
    writeFileSync(configFile, '{ "services": [ { "name": "datapipeline", "upstream": "nope" } ] }');
    gw.proc.kill('SIGHUP');
    await waitFor(() => assert.match(gw.stderr(), /could not reload the config/));
    const listed = await pipelines(alice).send(new ListPipelinesCommand({}));
    assert.ok(Array.isArray(listed.pipelineIdList));
    await assert.rejects(admin.send(new DescribePipelinesCommand({ pipelineIds: [id] })), { name: 'AccessDeniedException' }, 'the reloaded deny is still in force');
  });
});

/** An awsJson request with exactly this body text, signed by `creds`. */
function signedJson(gw: RunningGateway, creds: Creds, target: string, body: string, path = '/'): Promise<{ status: number; body: string }> {
  const headers = { host: new URL(gw.url).host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target };
  const signed = new Signer().sign({ method: 'POST', path, headers, body }, { credentials: creds, region: 'us-east-1', service: 'datapipeline' });
  return send(gw, { method: 'POST', path, headers: signed.headers as OutgoingHttpHeaders, body });
}

async function waitFor(check: () => unknown, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
