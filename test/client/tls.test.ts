/**
 * The client's TLS policy against real servers: `openssl s_server` offering only TLS 1.1, only a
 * suite without forward secrecy, or only TLS 1.2 to a 1.3-only client, each refused; a
 * certificate from another CA or for another name refused; the same servers reached by a
 * permissive control client (so each refusal is the policy's doing); the gateway accepted.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, type ConnectionOptions } from 'node:tls';
import { NetworkError, PolicyAgent, send, staticCredentials, StsClient, TlsRefused } from '../../src/client/index.js';
import { removeDir, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { makePki, type Pki } from '../helpers/tls.js';
import { sServer, type SServer } from './sserver.js';

/** A handshake by a client without our policy: what the server really offers. */
function control(port: number, ca: string, opts: ConnectionOptions): Promise<{ protocol: string | null; cipher: string }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'localhost', ca, ...opts }, () => {
      const r = { protocol: s.getProtocol(), cipher: s.getCipher().name };
      s.end();
      resolve(r);
    });
    s.once('error', reject);
  });
}

async function refusal(p: Promise<unknown>): Promise<TlsRefused> {
  const e = await p.then(() => assert.fail('the client accepted the server'), (x: unknown) => x);
  assert.ok(e instanceof TlsRefused, `expected TlsRefused, got ${String(e)}`);
  return e;
}

const get = (port: number, agent: PolicyAgent, host = '127.0.0.1') => send({ url: new URL(`https://${host}:${port}/`), method: 'GET', headers: {} }, { agent });

describe('client TLS policy against openssl s_server', () => {
  let pki: Pki;
  const servers: SServer[] = [];
  before(async () => {
    pki = await makePki(join(tmpdir(), `portcullis-client-tls-${process.pid}`));
  });
  after(async () => {
    for (const s of servers) await s.stop();
    rmSync(pki.dir, { recursive: true, force: true });
  });
  const start = async (args: readonly string[]) => {
    const s = await sServer(pki, args);
    servers.push(s);
    return s;
  };

  it('a server with a forward-secret suite over TLS 1.2 is accepted (the baseline)', async () => {
    const s = await start(['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']);
    const r = await get(s.port, new PolicyAgent({ ca: pki.caPem }));
    assert.equal(r.status, 200);
    assert.match(r.body.toString(), /ECDHE-RSA-AES128-GCM-SHA256/);
  });

  it('a TLS 1.1-only server is refused', async () => {
    const s = await start(['-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0']);
    const c = await control(s.port, pki.caPem, { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' });
    assert.equal(c.protocol, 'TLSv1.1', 'the server does speak TLS 1.1');
    const e = await refusal(get(s.port, new PolicyAgent({ ca: pki.caPem })));
    assert.equal(e.reason, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    assert.match(e.message, /TLS 1\.2 or 1\.3 is required/);
  });

  it('a server with only a static-RSA (not forward-secret) suite is refused', async () => {
    const s = await start(['-tls1_2', '-cipher', 'AES128-GCM-SHA256']);
    const c = await control(s.port, pki.caPem, { maxVersion: 'TLSv1.2', ciphers: 'AES128-GCM-SHA256' });
    assert.deepEqual(c, { protocol: 'TLSv1.2', cipher: 'AES128-GCM-SHA256' }, 'the server does speak the non-PFS suite');
    const e = await refusal(get(s.port, new PolicyAgent({ ca: pki.caPem })));
    assert.equal(e.reason, 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE');
    assert.match(e.message, /forward-secret/);
  });

  it('a CBC suite with ECDHE is refused too (AEAD only)', async () => {
    const s = await start(['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA']);
    await control(s.port, pki.caPem, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-SHA' });
    await refusal(get(s.port, new PolicyAgent({ ca: pki.caPem })));
  });

  it('a client with minimum TLS 1.3 refuses a TLS 1.2-only server', async () => {
    const s = await start(['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']);
    assert.equal((await get(s.port, new PolicyAgent({ ca: pki.caPem }))).status, 200);
    await refusal(get(s.port, new PolicyAgent({ ca: pki.caPem, minTls: '1.3' })));
  });

  it('certificates that do not verify are refused: unknown CA, another CA, another name', async () => {
    const s = await start(['-tls1_3']);
    assert.equal((await get(s.port, new PolicyAgent({ ca: pki.caPem }))).status, 200);
    const unknown = await refusal(get(s.port, new PolicyAgent()));
    assert.equal(unknown.reason, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    assert.match(unknown.message, /--ca-bundle/);
    const rogue = await refusal(get(s.port, new PolicyAgent({ caFile: join(pki.dir, 'rogue-ca.pem') })));
    assert.equal(rogue.reason, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    // 127.0.0.2 reaches the same server, but the certificate names only localhost and 127.0.0.1.
    const name = await refusal(get(s.port, new PolicyAgent({ ca: pki.caPem }), '127.0.0.2'));
    assert.equal(name.reason, 'ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('NODE_TLS_REJECT_UNAUTHORIZED=0 does not turn verification off', async () => {
    const s = await start(['-tls1_3']);
    const before = process.env['NODE_TLS_REJECT_UNAUTHORIZED'];
    process.env['NODE_TLS_REJECT_UNAUTHORIZED'] = '0';
    try {
      await refusal(get(s.port, new PolicyAgent()));
    } finally {
      if (before === undefined) delete process.env['NODE_TLS_REJECT_UNAUTHORIZED'];
      else process.env['NODE_TLS_REJECT_UNAUTHORIZED'] = before;
    }
  });
});

describe('client TLS policy against the gateway', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
    removeDir(gw.dataDir);
  });

  it('connects with TLS 1.3 (and with a 1.3 minimum) and calls STS', async () => {
    for (const minTls of ['1.2', '1.3'] as const) {
      const sts = new StsClient({ endpoint: gw.url, agent: new PolicyAgent({ ca: gw.caPem, minTls }), credentials: staticCredentials(gw.admin) });
      assert.match((await sts.getCallerIdentity()).arn, /:user\/admin$/);
    }
  });

  it('without the gateway\'s certificate in the bundle, refuses it', async () => {
    const sts = new StsClient({ endpoint: gw.url, agent: new PolicyAgent(), credentials: staticCredentials(gw.admin), retry: { maxAttempts: 3 } });
    const e = await refusal(sts.getCallerIdentity());
    assert.equal(e.reason, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  });
});

describe('client certificates against a gateway that requires them (mTLS)', () => {
  let gw: RunningGateway;
  let pki: Pki;
  before(async () => {
    pki = await makePki(join(tmpdir(), `portcullis-client-mtls-${process.pid}`));
    const config = join(pki.dir, 'gw.json');
    writeFileSync(config, JSON.stringify({ tls: { clientCaFile: pki.caFile } }));
    gw = await startGateway({ args: ['--config', config] });
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
    removeDir(gw.dataDir);
    rmSync(pki.dir, { recursive: true, force: true });
  });
  const sts = (agent: PolicyAgent) => new StsClient({ endpoint: gw.url, agent, credentials: staticCredentials(gw.admin), retry: { maxAttempts: 1 } });

  it('with a certificate from the trusted CA: works', async () => {
    const agent = new PolicyAgent({ ca: gw.caPem, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile });
    assert.match((await sts(agent).getCallerIdentity()).arn, /:user\/admin$/);
  });

  it('without one: refused, saying a client certificate is required', async () => {
    // The alert can lose the race with a reset (see below); it must win at least once in three.
    let explained: TlsRefused | undefined;
    for (let i = 0; i < 3 && explained === undefined; i++) {
      const e = await sts(new PolicyAgent({ ca: gw.caPem })).getCallerIdentity().then(() => assert.fail('accepted'), (x: unknown) => x);
      if (e instanceof TlsRefused) explained = e;
      else assert.ok(e instanceof NetworkError && e.reason === 'ECONNRESET', `expected a refusal, got ${String(e)}`);
    }
    assert.ok(explained, 'the certificate_required alert never arrived');
    assert.equal(explained.reason, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
    assert.match(explained.message, /--client-cert FILE and --client-key FILE/);
  });

  it('with one from another CA: refused', async () => {
    // In TLS 1.3 the client has finished its handshake before the server judges its certificate,
    // so the server's alert (unknown CA) races with the request being written: the refusal
    // arrives as that alert or as the reset that follows it. Either way no answer comes back.
    const e = await sts(new PolicyAgent({ ca: gw.caPem, certFile: pki.rogueCertFile, keyFile: pki.rogueKeyFile })).getCallerIdentity().then(() => assert.fail('accepted'), (x: unknown) => x);
    assert.ok(
      (e instanceof TlsRefused && e.reason === 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA') || (e instanceof NetworkError && e.reason === 'ECONNRESET'),
      `expected the unknown-CA alert or a reset, got ${String(e)}`,
    );
    assert.throws(() => new PolicyAgent({ certFile: pki.clientCertFile }), /needs its key/);
  });
});
