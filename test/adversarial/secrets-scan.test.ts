/**
 * Secrets at rest and in output (issue 9): a gateway is driven through a representative workload
 * (IAM users and access keys, key rotation, GetSessionToken and AssumeRole sessions, presigned
 * URLs, aws-chunked uploads, a proxied service, and failures: wrong signatures, tampered tokens,
 * malformed headers). Every secret access key, session token and signature used is collected;
 * then the SQLite database (and its WAL), the gateway's log (at debug level), the audit files,
 * what the upstream received and every error body must hold none of them: as is, hex, base64 or
 * base64url, whole or any 24-character piece. The scanner is shown to find a planted secret.
 *
 * Not scanned, by design: DIR/credentials (the administrator's key, written for the operator at
 * first start, SPEC §4) and DIR/master.key; success bodies of CreateAccessKey and the STS calls,
 * whose purpose is to hand the secret to its owner.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeChunkedBody } from '../../src/sigv4/chunkedSign.js';
import { Signer } from '../../src/sigv4/sign.js';
import { removeDir, startGateway, tempDir, type RunningGateway } from '../helpers/gateway.js';
import { call, callSts, FORM, GET_CALLER_IDENTITY, sleep, type Creds, type Reply } from '../helpers/signedRequest.js';
import { hostOf, iam, rawRequest, sendRaw, signedForm, signRaw } from './live.js';

// ---------------------------------------------------------------------------------------------
// The scanner

export interface Leak {
  readonly where: string;
  readonly what: string;
  readonly form: string;
}

const WINDOW = 24;
const STRIDE = 4;

/** The spellings a secret could take in a file: as is, and hex, base64 and base64url of its bytes. */
function spellings(secret: string): Array<[string, string]> {
  const bytes = Buffer.from(secret, 'utf8');
  const out: Array<[string, string]> = [['as is', secret], ['hex', bytes.toString('hex')], ['base64', bytes.toString('base64').replace(/=+$/, '')], ['base64url', bytes.toString('base64url')]];
  // A hex signature is also 32 bytes: its raw and base64 forms.
  if (/^[0-9a-f]{64}$/.test(secret)) {
    const raw = Buffer.from(secret, 'hex');
    out.push(['raw bytes', raw.toString('latin1')], ['bytes as base64', raw.toString('base64').replace(/=+$/, '')], ['bytes as upper hex', secret.toUpperCase()]);
  }
  return out;
}

/** Pieces of `s`: the whole when short, else windows of 24 characters every 4. */
function pieces(s: string): string[] {
  if (s.length <= WINDOW) return [s];
  const out: string[] = [];
  for (let i = 0; i + WINDOW <= s.length; i += STRIDE) out.push(s.slice(i, i + WINDOW));
  out.push(s.slice(s.length - WINDOW));
  return out;
}

/** Every place one of `secrets` (name -> value) shows up in `haystacks` (where -> text). */
export function scan(secrets: ReadonlyMap<string, string>, haystacks: ReadonlyMap<string, string>): Leak[] {
  const leaks: Leak[] = [];
  for (const [what, value] of secrets) {
    for (const [form, spelled] of spellings(value)) {
      const ps = pieces(spelled);
      for (const [where, text] of haystacks) {
        if (ps.some((p) => text.includes(p))) leaks.push({ where, what, form });
      }
    }
  }
  return leaks;
}

// ---------------------------------------------------------------------------------------------
// The workload

let gw: RunningGateway;
let upstream: Server;
const upstreamSaw: string[] = [];
const dirs: string[] = [];
/** name -> value of every secret, token and signature the workload used. */
const secrets = new Map<string, string>();
/** Every error response, head and body. */
const errorReplies: Array<{ what: string; text: string }> = [];
let n = 0;
const keep = (what: string, value: string | undefined) => {
  if (value !== undefined && value !== '') secrets.set(`${what} #${++n}`, value);
};

function noteError(what: string, r: Pick<Reply, 'status' | 'body' | 'headers'>): void {
  if (r.status >= 300) errorReplies.push({ what, text: JSON.stringify(r.headers) + '\n' + r.body });
}

function rec(req: IncomingMessage, body: string): string {
  return `${req.method} ${req.url}\n${req.rawHeaders.join('\n')}\n\n${body}`;
}

async function sts(what: string, creds: Creds, body = GET_CALLER_IDENTITY): Promise<Reply> {
  const r = await callSts(gw, { body, credentials: creds });
  keep(`${what}: signature`, r.signature);
  noteError(what, r);
  return r;
}

const tag = (xml: string, name: string) => new RegExp(`<${name}>([^<]+)</${name}>`).exec(xml)?.[1];

function credsOf(xml: string): Creds {
  return { accessKeyId: tag(xml, 'AccessKeyId')!, secretAccessKey: tag(xml, 'SecretAccessKey')!, sessionToken: tag(xml, 'SessionToken')! };
}

before(async () => {
  upstream = createServer((req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      upstreamSaw.push(rec(req, body));
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const dataDir = tempDir('portcullis-secrets-');
  const confDir = tempDir('portcullis-secrets-conf-');
  dirs.push(dataDir, confDir);
  writeFileSync(join(confDir, 'portcullis.json'), JSON.stringify({
    log: { level: 'debug' },
    services: [{ name: 'widgets', upstream: `http://127.0.0.1:${(upstream.address() as { port: number }).port}`, protocol: 'json1.1' }],
  }));
  gw = await startGateway({ dataDir, args: ['--config', join(confDir, 'portcullis.json')], timeoutMs: 60_000 });
  keep('admin secret', gw.admin.secretAccessKey);

  // IAM: a user, two keys (one rotated out), a role to assume.
  const account = tag((await sts('admin GetCallerIdentity', gw.admin)).body, 'Account')!;
  await iam(gw, gw.admin, { Action: 'CreateUser', UserName: 'alice' });
  await iam(gw, gw.admin, { Action: 'PutUserPolicy', UserName: 'alice', PolicyName: 'all', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['sts:*', 'widgets:*', 'iam:GetUser'], Resource: '*' }] }) });
  const old = credsOf(await iam(gw, gw.admin, { Action: 'CreateAccessKey', UserName: 'alice' }));
  keep('alice old secret', old.secretAccessKey);
  await sts('alice old key', old);
  const alice = credsOf(await iam(gw, gw.admin, { Action: 'CreateAccessKey', UserName: 'alice' }));
  keep('alice secret', alice.secretAccessKey);
  await iam(gw, gw.admin, { Action: 'UpdateAccessKey', UserName: 'alice', AccessKeyId: old.accessKeyId, Status: 'Inactive' });
  noteError('inactive key', await sts('alice inactive key', old));
  await iam(gw, gw.admin, { Action: 'DeleteAccessKey', UserName: 'alice', AccessKeyId: old.accessKeyId });
  await iam(gw, gw.admin, { Action: 'CreateRole', RoleName: 'worker', AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:user/alice` }, Action: 'sts:AssumeRole' }] }) });
  await iam(gw, gw.admin, { Action: 'PutRolePolicy', RoleName: 'worker', PolicyName: 'p', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['sts:GetCallerIdentity', 'widgets:*'], Resource: '*' }] }) });

  // STS sessions, used.
  const session = credsOf((await sts('GetSessionToken', alice, 'Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900')).body);
  keep('session secret', session.secretAccessKey);
  keep('session token', session.sessionToken);
  assert.equal((await sts('session call', session)).status, 200);
  const role = credsOf((await sts('AssumeRole', alice, `Action=AssumeRole&Version=2011-06-15&RoleArn=${encodeURIComponent(`arn:aws:iam::${account}:role/worker`)}&RoleSessionName=s1`)).body);
  keep('role secret', role.secretAccessKey);
  keep('role token', role.sessionToken);
  assert.equal((await sts('role call', role)).status, 200);
  // Denied: the role may not call IAM; the AccessDenied body must not carry its token.
  const denied = await callSts(gw, { body: 'Action=GetSessionToken&Version=2011-06-15', credentials: role });
  keep('role denied: signature', denied.signature);
  noteError('role denied', denied);

  // Presigned URLs, with and without a session token; one replayed with a changed signature.
  const host = hostOf(gw);
  for (const [what, c] of [['alice', alice], ['role', role]] as const) {
    const p = new Signer().presign({ method: 'GET', path: '/', query: GET_CALLER_IDENTITY, headers: { host } }, { credentials: c, region: 'us-east-1', service: 'sts', expiresIn: 300 });
    keep(`${what} presigned signature`, p.signature);
    const ok = await call(gw, { method: 'GET', path: '/?' + p.query });
    assert.equal(ok.status, 200, ok.body);
    const bad = await call(gw, { method: 'GET', path: '/?' + p.query.replace(/X-Amz-Signature=([0-9a-f])/, (_, c0: string) => `X-Amz-Signature=${c0 === '0' ? '1' : '0'}`) });
    noteError(`${what} presigned, tampered`, bad);
  }

  // aws-chunked with chunk signatures.
  {
    const body = [Buffer.from('Action=GetCallerIdentity'), Buffer.from('&Version=2011-06-15')];
    const s = new Signer().sign(
      { method: 'POST', path: '/', headers: { host, 'content-type': FORM, 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(body[0]!.length + body[1]!.length) } },
      { credentials: alice, region: 'us-east-1', service: 'sts', payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', contentSha256Header: true },
    );
    keep('chunked seed signature', s.signature);
    const encoded = encodeChunkedBody(body, { signing: { key: s.signingKey!, seedSignature: s.signature, amzDate: s.amzDate, scope: s.scope } });
    for (const m of encoded.toString('latin1').matchAll(/chunk-signature=([0-9a-f]{64})/g)) keep('chunk signature', m[1]);
    const ok = await call(gw, { method: 'POST', path: '/', headers: { ...s.headers } as Record<string, string>, body: encoded });
    assert.equal(ok.status, 200, ok.body);
    const broken = Buffer.from(encoded.toString('latin1').replace(/(chunk-signature=[0-9a-f]{63})([0-9a-f])/, (_, a: string, c: string) => a + (c === '0' ? '1' : '0')), 'latin1');
    noteError('chunked, tampered', await call(gw, { method: 'POST', path: '/', headers: { ...s.headers } as Record<string, string>, body: broken }));
  }

  // Failures: wrong secret, tampered token, token of another key, malformed headers that carry a signature.
  const wrong = { ...alice, secretAccessKey: alice.secretAccessKey.slice(0, -1) + (alice.secretAccessKey.endsWith('A') ? 'B' : 'A') };
  keep('wrong secret', wrong.secretAccessKey);
  await sts('wrong secret', wrong);
  const tampered = { ...session, sessionToken: session.sessionToken!.slice(0, -2) + (session.sessionToken!.endsWith('AA') ? 'BB' : 'AA') };
  keep('tampered token', tampered.sessionToken);
  await sts('tampered token', tampered);
  await sts('token of another key', { ...role, sessionToken: session.sessionToken! });
  for (const [what, mangle] of [
    ['signature without =', (a: string) => a.replace('Signature=', 'Signature ')],
    ['signature first', (a: string) => { const sig = /Signature=([0-9a-f]{64})/.exec(a)![1]!; return `AWS4-HMAC-SHA256 ${sig}, ${a.slice('AWS4-HMAC-SHA256 '.length).replace(/, Signature=.*/, '')}`; }],
    ['signature as algorithm', (a: string) => /Signature=([0-9a-f]{64})/.exec(a)![1]! + ' ' + a],
    ['signature in SignedHeaders', (a: string) => a.replace(/SignedHeaders=[^,]+/, `SignedHeaders=${/Signature=([0-9a-f]{64})/.exec(a)![1]}`)],
    ['signature in Credential', (a: string) => a.replace(/Credential=[^/]+/, `Credential=${/Signature=([0-9a-f]{64})/.exec(a)![1]}`)],
    ['twice', (a: string) => `${a}, Signature=${/Signature=([0-9a-f]{64})/.exec(a)![1]}`],
  ] as const) {
    // A header of its own, so that each case has its own signature.
    const headers = signRaw(gw, { method: 'POST', path: '/', headers: { 'content-type': FORM, 'x-case': what }, body: GET_CALLER_IDENTITY }, { credentials: alice });
    const auth = headers.find(([k]) => k === 'authorization')![1];
    keep(`${what}: signature`, /Signature=([0-9a-f]{64})/.exec(auth)![1]);
    const sent = headers.map(([k, v]) => [k, k === 'authorization' ? mangle(v) : v] as [string, string]);
    const r = await sendRaw(gw, rawRequest('POST', '/', [...sent, ['content-length', String(GET_CALLER_IDENTITY.length)], ['connection', 'close']], GET_CALLER_IDENTITY));
    assert.ok(r.status >= 400, `${what}: refused`);
    noteError(what, r);
  }
  // Access key ID and secret swapped, as happens with environment variables: the secret is sent
  // as the key ID (with and without the `/` and `+` that break the Credential apart).
  for (const secret of [alice.secretAccessKey, 'SwappedSecretEXAMPLEabcdefghijklmnop1234']) {
    keep('swapped secret', secret);
    const r = await sendRaw(gw, signedForm(gw, GET_CALLER_IDENTITY, { credentials: { accessKeyId: secret, secretAccessKey: alice.accessKeyId } }));
    assert.ok(r.status >= 400);
    noteError('swapped key and secret', r);
  }
  // A token where a date should be.
  {
    const headers = signRaw(gw, { method: 'POST', path: '/', headers: { 'content-type': FORM }, body: GET_CALLER_IDENTITY }, { credentials: session });
    const r = await sendRaw(gw, rawRequest('POST', '/', [...headers.map(([k, v]) => [k, k === 'x-amz-date' ? session.sessionToken! : v] as [string, string]), ['content-length', String(GET_CALLER_IDENTITY.length)], ['connection', 'close']], GET_CALLER_IDENTITY));
    noteError('token as date', r);
  }

  // The data plane: the upstream must see none of the caller's credentials.
  for (const [what, c] of [['alice', alice], ['role', role]] as const) {
    const body = '{"x":1}';
    const headers = signRaw(gw, { method: 'POST', path: '/', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'Widgets.ListWidgets' }, body }, { credentials: c, service: 'widgets' });
    keep(`${what} proxied signature`, /Signature=([0-9a-f]{64})/.exec(headers.find(([k]) => k === 'authorization')![1])![1]);
    const r = await sendRaw(gw, rawRequest('POST', '/', [...headers, ['content-length', String(body.length)], ['connection', 'close']], body));
    assert.equal(r.status, 200, r.body);
  }
  assert.ok(upstreamSaw.length >= 2, 'the upstream was called');

  // Let the audit batches and the WAL reach the disk: a graceful stop flushes everything.
  await sleep(200);
  assert.equal(await gw.stop(), 0, gw.stderr());
});

after(async () => {
  await new Promise<void>((r) => upstream?.close(() => r()));
  for (const d of dirs) removeDir(d);
});

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

/** Database files (SQLite, its WAL and journal), audit files, the log, upstream requests and error responses. */
function haystacks(): Map<string, string> {
  const out = new Map<string, string>();
  const db = filesUnder(gw.dataDir).filter((f) => /\.(db|sqlite|sqlite3)(-wal|-shm|-journal)?$|portcullis\.db/.test(f));
  assert.ok(db.length > 0, `a database file under ${gw.dataDir}: ${filesUnder(gw.dataDir).join(', ')}`);
  for (const f of db) out.set(f, readFileSync(f).toString('latin1'));
  const audit = filesUnder(join(gw.dataDir, 'audit'));
  assert.ok(audit.length > 0, 'audit files');
  for (const f of audit) out.set(f, readFileSync(f).toString('latin1'));
  out.set('gateway log (stderr)', gw.stderr());
  out.set('gateway stdout', gw.stdout());
  upstreamSaw.forEach((t, i) => out.set(`upstream request ${i + 1}`, t));
  for (const e of errorReplies) out.set(`error response: ${e.what}`, e.text);
  return out;
}

describe('secrets after a representative workload', () => {
  it('the workload used secrets, tokens and signatures, and met errors', () => {
    const kinds = (re: RegExp) => [...secrets.keys()].filter((k) => re.test(k)).length;
    assert.ok(kinds(/secret/) >= 6, 'secret access keys');
    assert.ok(kinds(/token/) >= 3, 'session tokens');
    assert.ok(kinds(/signature/) >= 15, 'signatures');
    assert.ok(errorReplies.length >= 12, `error responses: ${errorReplies.length}`);
    assert.ok(gw.stderr().length > 0, 'the debug log wrote something');
  });

  it('no secret access key, session token or signature in the database, its WAL, the audit files, the log, the upstream or any error body', () => {
    const leaks = scan(secrets, haystacks());
    assert.deepEqual(leaks, [], leaks.map((l) => `${l.what} (${l.form}) in ${l.where}`).join('\n'));
  });

  it('the scanner finds a secret planted in a copy of the database, in each spelling, and a piece of a signature in a body (it can fail)', () => {
    const hay = haystacks();
    const dbPath = [...hay.keys()].find((k) => /\.db$|portcullis\.db$/.test(k)) ?? [...hay.keys()][0]!;
    const copy = join(tempDir('portcullis-secrets-plant-'), 'copy.db');
    dirs.push(join(copy, '..'));
    copyFileSync(dbPath, copy);
    const [name, secret] = [...secrets].find(([k]) => k.startsWith('alice secret'))!;
    for (const [form, spelled] of spellings(secret)) {
      const planted = Buffer.concat([readFileSync(copy), Buffer.from(spelled, 'latin1')]);
      const leaks = scan(new Map([[name, secret]]), new Map([['planted copy', planted.toString('latin1')]]));
      assert.ok(leaks.some((l) => l.form === form), `found as ${form}`);
    }
    const [sigName, sig] = [...secrets].find(([k]) => k.includes('signature'))!;
    const half = `<Message>got \`${sig.slice(10, 10 + 30)}\`</Message>`;
    assert.equal(scan(new Map([[sigName, sig]]), new Map([['body', half]])).length, 1, 'thirty characters of a signature are found');
    assert.equal(scan(new Map([[sigName, sig]]), new Map([['body', sig.slice(0, 20)]])).length, 0, 'twenty are below the window');
  });
});
