/**
 * The AWS SDK's fromTemporaryCredentials refreshes credentials as they near expiry. The gateway
 * runs in this process with its clock set eleven minutes behind, so the fifteen-minute sessions it
 * hands out look, to the SDK, four minutes from expiry: inside the SDK's refresh window, while the
 * signing clocks stay within the fifteen minutes SigV4 allows.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/gateway/log.js';
import { Gateway } from '../../src/gateway/server.js';
import { readCredentials, removeDir, tempDir } from '../helpers/gateway.js';

describe('temporary credentials refresh in the AWS SDK', () => {
  let gw: Gateway;
  let dataDir: string;
  before(async () => {
    dataDir = tempDir();
    const config = loadConfig({ argv: ['--data-dir', dataDir, '--listen', '127.0.0.1:0'], env: {}, cwd: process.cwd() });
    gw = await Gateway.start({ config, env: {}, log: createLogger('error'), clock: () => Date.now() - 11 * 60_000 });
  });
  after(async () => {
    await gw.stop();
    removeDir(dataDir);
  });

  it('fromTemporaryCredentials assumes the role again when the credentials near expiry', async () => {
    const ca = readFileSync(join(dataDir, 'tls', 'cert.pem'), 'utf8');
    const handler = () => new NodeHttpHandler({ httpsAgent: new Agent({ ca }) });
    const admin = readCredentials(dataDir);
    const iam = new IAMClient({ endpoint: gw.url, region: 'us-east-1', credentials: admin, maxAttempts: 1, requestHandler: handler() });
    const arn = (await iam.send(new CreateRoleCommand({
      RoleName: 'Refreshing',
      AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${gw.accountId}:root` }, Action: 'sts:AssumeRole' }] }),
    }))).Role!.Arn!;
    const provider = fromTemporaryCredentials({
      masterCredentials: admin,
      params: { RoleArn: arn, RoleSessionName: 'refresh', DurationSeconds: 900 },
      clientConfig: { endpoint: gw.url, region: 'us-east-1', requestHandler: handler() },
    });
    const sts = new STSClient({ endpoint: gw.url, region: 'us-east-1', credentials: provider, maxAttempts: 1, requestHandler: handler() });
    const keys = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const me = await sts.send(new GetCallerIdentityCommand({}));
      assert.equal(me.Arn, `arn:aws:sts::${gw.accountId}:assumed-role/Refreshing/refresh`);
      keys.add((await provider()).accessKeyId);
    }
    assert.ok(keys.size >= 2, `credentials near expiry are fetched again (saw ${keys.size} key IDs)`);
  });
});
