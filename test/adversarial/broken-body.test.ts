/**
 * Requests broken off in the middle of their body, by the client (it goes away) or by the gateway
 * (requestTimeoutMs): each is audited once, as what it is (IncompleteBody, RequestTimeout), under the
 * request id the client was told, never as an internal failure, a store outage or a second malformed
 * request; nothing is logged as unexpected, and the gateway serves on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from 'node:tls';
import type { RunningGateway } from '../helpers/gateway.js';
import { gatewayFleet } from '../helpers/fleet.js';
import { GET_CALLER_IDENTITY, parseResponse, signSts } from '../helpers/signedRequest.js';
import { auditEvents, configFile, signedQuery, until } from './abuse-helpers.js';

const fleet = gatewayFleet('broken-body');
let gw: RunningGateway;

before(async () => {
  gw = await fleet.start({ args: ['--config', configFile(fleet.newDir(), { limits: { requestTimeoutMs: 1500 } })] });
});

after(() => {
  assert.equal(gw.proc.exitCode, null, 'the gateway lives');
});

/** The head of a signed GetCallerIdentity whose body is `body`, and that body. */
function signedHead(): { head: string; body: string } {
  const body = `${GET_CALLER_IDENTITY}&Padding=${'x'.repeat(1000)}`;
  const signed = signSts(gw, body);
  const head = [`POST / HTTP/1.1`, `host: ${new URL(gw.url).host}`, `content-length: ${body.length}`,
    ...Object.entries(signed.headers).filter(([k]) => k !== 'host').map(([k, v]) => `${k}: ${String(v)}`), '', ''].join('\r\n');
  return { head, body };
}

describe('a body broken off by the client', () => {
  it('is audited once, as IncompleteBody, logs nothing unexpected, and the gateway serves on', { timeout: 30_000 }, async () => {
    const { head, body } = signedHead();
    const before = auditEvents(gw.dataDir).length;
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: gw.port, ca: gw.caPem, servername: 'localhost' }, () => {
        socket.write(head + body.slice(0, 100), () => setTimeout(() => {
          socket.destroy();
          resolve();
        }, 200));
      });
      socket.on('error', reject);
    });
    await until(() => auditEvents(gw.dataDir).length > before, 10_000, 'the broken request to be audited');
    await new Promise((r) => setTimeout(r, 300)); // any second line would be written by now
    // (A 200 of the test before may still arrive in this window: audit lines are written in batches.)
    const events = auditEvents(gw.dataDir).slice(before).filter((e) => e.status !== 200);
    // One request, one audit line: the parser's complaint about the cut connection is not another.
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.equal(events[0]!.reason, 'IncompleteBody');
    assert.equal(events[0]!.status, 400);
    assert.equal(events[0]!.accessKeyId, gw.admin.accessKeyId);
    assert.doesNotMatch(gw.stderr(), /unexpected failure|the store is unavailable/);
    assert.equal((await signedQuery(gw, gw.admin)).status, 200);
  });

  it('a body withheld past requestTimeoutMs: the client is told 408 RequestTimeout, and that request is audited once, under the id it was told', { timeout: 30_000 }, async () => {
    const { head, body } = signedHead();
    const before = auditEvents(gw.dataDir).length;
    const answer = await new Promise<string>((resolve, reject) => {
      let got = '';
      const socket = connect({ host: '127.0.0.1', port: gw.port, ca: gw.caPem, servername: 'localhost' }, () => socket.write(head + body.slice(0, 100)));
      socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
    });
    const reply = parseResponse(answer);
    assert.equal(reply.status, 408, answer);
    assert.match(reply.body, /<Code>RequestTimeout<\/Code>/);
    const id = reply.headers['x-amzn-requestid'];
    assert.match(id ?? '', /^[0-9a-f-]{36}$/);
    await new Promise((r) => setTimeout(r, 300));
    const events = auditEvents(gw.dataDir).slice(before).filter((e) => e.status !== 200);
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.deepEqual([events[0]!.requestId, events[0]!.reason, events[0]!.status], [id, 'RequestTimeout', 408]);
    assert.doesNotMatch(gw.stderr(), /unexpected failure|the store is unavailable/);
    assert.equal((await signedQuery(gw, gw.admin)).status, 200);
  });
});
