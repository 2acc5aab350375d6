/**
 * AssumeRoleWithWebIdentity with real clients: an OpenID Connect provider registered through IAM,
 * ID tokens signed by a test key whose JWKS the gateway reads from a file, the trust policy's
 * audience and subject conditions, and the errors AWS gives bad tokens.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CreateOpenIDConnectProviderCommand, CreateRoleCommand, GetOpenIDConnectProviderCommand, IAMClient, ListOpenIDConnectProvidersCommand, ListUsersCommand, AttachRolePolicyCommand } from '@aws-sdk/client-iam';
import { AssumeRoleWithWebIdentityCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { removeDir, startGateway, type RunningGateway } from '../helpers/gateway.js';

const run = promisify(execFile);
const ISSUER = 'https://idp.example.test/realm';
const CLIENT = 'portcullis-app';

function b64(o: object): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}

function jwt(key: KeyObject, kid: string, alg: 'RS256' | 'ES256', claims: Record<string, unknown>): string {
  const head = `${b64({ alg, kid, typ: 'JWT' })}.${b64(claims)}`;
  const sig = alg === 'ES256' ? sign('sha256', Buffer.from(head), { key, dsaEncoding: 'ieee-p1363' }) : sign('sha256', Buffer.from(head), key);
  return `${head}.${sig.toString('base64url')}`;
}

describe('AssumeRoleWithWebIdentity', () => {
  let gw: RunningGateway;
  let work: string;
  let account: string;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const now = () => Math.floor(Date.now() / 1000);
  const claims = (over: Record<string, unknown> = {}) => ({ iss: ISSUER, sub: 'user-123', aud: CLIENT, iat: now(), exp: now() + 600, ...over });
  const handler = () => new NodeHttpHandler({ httpsAgent: new Agent({ ca: gw.caPem }) });
  const anonymousSts = () => new STSClient({ endpoint: gw.url, region: 'us-east-1', maxAttempts: 1, requestHandler: handler(), credentials: async () => { throw new Error('no credentials needed'); } });
  const roleArn = () => `arn:aws:iam::${account}:role/WebApp`;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'portcullis-oidc-'));
    const jwksFile = join(work, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa-1', use: 'sig', alg: 'RS256' }, { ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec-1', use: 'sig' }] }));
    const config = join(work, 'config.json');
    writeFileSync(config, JSON.stringify({ oidc: { jwks: { [ISSUER]: jwksFile } } }));
    gw = await startGateway({ args: ['--config', config] });
    const iam = new IAMClient({ endpoint: gw.url, region: 'us-east-1', credentials: gw.admin, maxAttempts: 1, requestHandler: handler() });
    account = (await new STSClient({ endpoint: gw.url, region: 'us-east-1', credentials: gw.admin, maxAttempts: 1, requestHandler: handler() }).send(new GetCallerIdentityCommand({}))).Account!;
    const created = await iam.send(new CreateOpenIDConnectProviderCommand({ Url: ISSUER, ClientIDList: [CLIENT], ThumbprintList: ['0123456789abcdef0123456789abcdef01234567'] }));
    assert.equal(created.OpenIDConnectProviderArn, `arn:aws:iam::${account}:oidc-provider/idp.example.test/realm`);
    const got = await iam.send(new GetOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: created.OpenIDConnectProviderArn! }));
    assert.deepEqual([got.Url, got.ClientIDList], ['idp.example.test/realm', [CLIENT]]);
    assert.equal((await iam.send(new ListOpenIDConnectProvidersCommand({}))).OpenIDConnectProviderList?.length, 1);
    await iam.send(new CreateRoleCommand({
      RoleName: 'WebApp',
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{
          Effect: 'Allow', Principal: { Federated: created.OpenIDConnectProviderArn }, Action: 'sts:AssumeRoleWithWebIdentity',
          Condition: { StringEquals: { 'idp.example.test/realm:aud': CLIENT }, StringLike: { 'idp.example.test/realm:sub': 'user-*' } },
        }],
      }),
    }));
    await iam.send(new AttachRolePolicyCommand({ RoleName: 'WebApp', PolicyArn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' }));
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
    removeDir(gw.dataDir);
    rmSync(work, { recursive: true, force: true });
  });

  it('SDK: an RS256 and an ES256 token each get a role session that works', async () => {
    for (const [key, kid, alg] of [[rsa.privateKey, 'rsa-1', 'RS256'], [ec.privateKey, 'ec-1', 'ES256']] as const) {
      const out = await anonymousSts().send(new AssumeRoleWithWebIdentityCommand({ RoleArn: roleArn(), RoleSessionName: `web-${alg}`, WebIdentityToken: jwt(key, kid, alg, claims()) }));
      assert.equal(out.SubjectFromWebIdentityToken, 'user-123');
      assert.equal(out.Audience, CLIENT);
      assert.equal(out.AssumedRoleUser?.Arn, `arn:aws:sts::${account}:assumed-role/WebApp/web-${alg}`);
      const c = out.Credentials!;
      const creds = { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
      await new IAMClient({ endpoint: gw.url, region: 'us-east-1', credentials: creds, maxAttempts: 1, requestHandler: handler() }).send(new ListUsersCommand({}));
    }
  });

  it('SDK: tampered, foreign-key, wrong-audience, expired tokens and refused subjects', async () => {
    const call = (token: string) => anonymousSts().send(new AssumeRoleWithWebIdentityCommand({ RoleArn: roleArn(), RoleSessionName: 'bad', WebIdentityToken: token }));
    const err = async (token: string) => call(token).then(() => assert.fail('accepted'), (e: Error & { $metadata?: { httpStatusCode?: number } }) => ({ name: e.name, status: e.$metadata?.httpStatusCode }));
    const good = jwt(rsa.privateKey, 'rsa-1', 'RS256', claims());
    const [h, p] = good.split('.');
    const tampered = `${h}.${b64({ ...claims(), sub: 'user-999' })}.${good.split('.')[2]}`;
    assert.equal((await err(tampered)).name, 'InvalidIdentityTokenException');
    assert.equal((await err(`${h}.${p}`)).name, 'InvalidIdentityTokenException', 'truncated');
    assert.equal((await err(jwt(other.privateKey, 'rsa-1', 'RS256', claims()))).name, 'InvalidIdentityTokenException');
    assert.equal((await err(jwt(rsa.privateKey, 'rsa-1', 'RS256', claims({ aud: 'someone-else' })))).name, 'InvalidIdentityTokenException');
    assert.equal((await err(jwt(rsa.privateKey, 'rsa-1', 'RS256', claims({ iss: 'https://evil.example.test' })))).name, 'InvalidIdentityTokenException');
    const expired = await err(jwt(rsa.privateKey, 'rsa-1', 'RS256', claims({ iat: now() - 7200, exp: now() - 3600 })));
    assert.equal(expired.name, 'ExpiredTokenException');
    assert.equal(expired.status, 400);
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`;
    assert.equal((await err(none)).name, 'InvalidIdentityTokenException');
    const refused = await err(jwt(rsa.privateKey, 'rsa-1', 'RS256', claims({ sub: 'robot-1' })));
    assert.equal(refused.name, 'AccessDenied', 'the trust policy wants user-* subjects');
    assert.equal(refused.status, 403);
  });

  it('AWS CLI: assume-role-with-web-identity goes unsigned and works', async () => {
    const env: Record<string, string | undefined> = { ...process.env, AWS_CA_BUNDLE: join(gw.dataDir, 'tls', 'cert.pem'), AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete env[k];
    const out = JSON.parse((await run('aws', ['--region', 'us-east-1', '--endpoint-url', gw.url, '--output', 'json', 'sts', 'assume-role-with-web-identity', '--role-arn', roleArn(), '--role-session-name', 'cli', '--web-identity-token', jwt(rsa.privateKey, 'rsa-1', 'RS256', claims())], { env, timeout: 60_000 })).stdout) as { AssumedRoleUser: { Arn: string }; Credentials: { AccessKeyId: string } };
    assert.equal(out.AssumedRoleUser.Arn, `arn:aws:sts::${account}:assumed-role/WebApp/cli`);
    assert.match(out.Credentials.AccessKeyId, /^ASIA/);
  });
});
