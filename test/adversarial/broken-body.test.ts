/**
 * A client that goes away in the middle of its body: the request is audited once, as IncompleteBody
 * (a fault of the request), never as an internal failure or a store outage, and not a second time as
 * malformed HTTP; nothing is logged as unexpected, and the gateway serves on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from 'node:tls';
import type { RunningGateway } from '../helpers/gateway.js';
import { gatewayFleet } from '../helpers/fleet.js';
import { GET_CALLER_IDENTITY, signSts } from '../helpers/signedRequest.js';
import { auditEvents, signedQuery, until } from './abuse-helpers.js';

const fleet = gatewayFleet('broken-body');
let gw: RunningGateway;

before(async () => {
  gw = await fleet.start();
});

after(() => {
  assert.equal(gw.proc.exitCode, null, 'the gateway lives');
});

describe('a body broken off by the client', () => {
  it('is audited once, as IncompleteBody, logs nothing unexpected, and the gateway serves on', { timeout: 30_000 }, async () => {
    const body = `${GET_CALLER_IDENTITY}&Padding=${'x'.repeat(1000)}`;
    const signed = signSts(gw, body);
    const head = [`POST / HTTP/1.1`, `host: ${new URL(gw.url).host}`, `content-length: ${body.length}`,
      ...Object.entries(signed.headers).filter(([k]) => k !== 'host').map(([k, v]) => `${k}: ${String(v)}`), '', ''].join('\r\n');
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
    const events = auditEvents(gw.dataDir).slice(before);
    // One request, one audit line: the parser's complaint about the cut connection is not another.
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.equal(events[0]!.reason, 'IncompleteBody');
    assert.equal(events[0]!.status, 400);
    assert.equal(events[0]!.accessKeyId, gw.admin.accessKeyId);
    assert.doesNotMatch(gw.stderr(), /unexpected failure|the store is unavailable/);
    assert.equal((await signedQuery(gw, gw.admin)).status, 200);
  });
});
