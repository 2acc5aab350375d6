/**
 * Slow clients and floods (issue 9, "Abuse"): trickled headers and trickled bodies are cut off by
 * the configured timeouts while a normal client is served throughout; a connection flood beyond
 * limits.maxConnections and header floods leave the gateway's memory within a bound, and it
 * serves afterwards. Memory is the gateway process's VmRSS from /proc.
 */
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connect, type TLSSocket } from 'node:tls';
import type { RunningGateway } from '../helpers/gateway.js';
import { gatewayFleet } from '../helpers/fleet.js';
import { FORM, GET_CALLER_IDENTITY, parseResponse, queryError, signSts, sleep } from '../helpers/signedRequest.js';
import { configFile, errorCode, rssKiB, signedQuery } from './abuse-helpers.js';

const LIMITS = { headersTimeoutMs: 2000, requestTimeoutMs: 4000, maxConnections: 120, maxHeaderCount: 50 };
/** How much the gateway's resident memory may grow under one attack, generously (KiB). */
const RSS_GROWTH_KIB = 96 * 1024;

const fleet = gatewayFleet('abuse-slow');
let gw: RunningGateway;

before(async () => {
  gw = await fleet.start({ args: ['--config', configFile(fleet.newDir(), { limits: LIMITS })] });
});

after(async () => {
  if (gw) assert.equal(gw.proc.exitCode, null, `the gateway survived every attack\n${gw.stderr().slice(-2000)}`);
});

interface Trickler {
  readonly socket: TLSSocket;
  /** Milliseconds from connection to close, once closed. */
  closedAfter: number | undefined;
  received: string;
  timer: NodeJS.Timeout | undefined;
}

/** A TLS connection that writes `head` and then `drip` one byte every `everyMs`, forever. */
function trickle(head: string, drip: string, everyMs: number): Promise<Trickler> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: gw.port, ca: gw.caPem, servername: 'localhost' }, () => {
      const started = Date.now();
      const t: Trickler = { socket, closedAfter: undefined, received: '', timer: undefined };
      socket.on('data', (d: Buffer) => (t.received += d.toString('latin1')));
      socket.on('error', () => {});
      socket.on('close', () => {
        t.closedAfter ??= Date.now() - started;
        clearInterval(t.timer);
      });
      socket.write(head);
      let i = 0;
      t.timer = setInterval(() => {
        if (!socket.writable) return;
        socket.write(drip[i % drip.length]!);
        i++;
      }, everyMs);
      resolve(t);
    });
    socket.once('error', reject);
  });
}

/** Normal signed requests, one after another, while `busy()`; returns their statuses and slowest time. */
async function normalTraffic(busy: () => boolean): Promise<{ statuses: number[]; slowestMs: number }> {
  const statuses: number[] = [];
  let slowestMs = 0;
  while (busy()) {
    const t0 = Date.now();
    const r = await signedQuery(gw, gw.admin, { timeoutMs: 20_000 }).catch(() => ({ status: 0 }));
    slowestMs = Math.max(slowestMs, Date.now() - t0);
    statuses.push(r.status);
    await sleep(100);
  }
  return { statuses, slowestMs };
}

async function attack(make: () => Promise<Trickler>, count: number, timeoutMs: number): Promise<{ tricklers: Trickler[]; normal: { statuses: number[]; slowestMs: number } }> {
  const tricklers: Trickler[] = [];
  for (let i = 0; i < count; i++) tricklers.push(await make());
  const deadline = Date.now() + timeoutMs + 10_000;
  const normal = await normalTraffic(() => tricklers.some((t) => t.closedAfter === undefined) && Date.now() < deadline);
  for (const t of tricklers) t.socket.destroy();
  return { tricklers, normal };
}

describe('slow clients', () => {
  it(`30 clients trickling header bytes are each cut off after about headersTimeoutMs (${LIMITS.headersTimeoutMs} ms) while normal requests are served`, async () => {
    const { tricklers, normal } = await attack(() => trickle('POST / HTTP/1.1\r\nhost: localhost\r\nx-slow: ', 'abcdefgh', 150), 30, LIMITS.headersTimeoutMs);
    for (const t of tricklers) {
      assert.ok(t.closedAfter !== undefined, 'every trickler is disconnected');
      assert.ok(t.closedAfter >= LIMITS.headersTimeoutMs * 0.8, `cut off after ${t.closedAfter} ms: before the timeout`);
      assert.ok(t.closedAfter <= LIMITS.headersTimeoutMs + 8_000, `cut off only after ${t.closedAfter} ms`);
      if (t.received !== '') assert.equal(queryError(parseResponse(t.received).body)?.code, 'RequestTimeout');
    }
    assert.ok(normal.statuses.length >= 1, 'normal requests were made during the attack');
    assert.ok(normal.statuses.every((s) => s === 200), `every normal request was served: ${normal.statuses.join(',')}`);
    assert.ok(normal.slowestMs < 10_000, `slowest normal request ${normal.slowestMs} ms`);
  });

  it(`30 clients trickling their bodies are each cut off after about requestTimeoutMs (${LIMITS.requestTimeoutMs} ms) while normal requests are served`, async () => {
    const body = GET_CALLER_IDENTITY + '&' + 'x'.repeat(500);
    const s = signSts(gw, body);
    let head = 'POST / HTTP/1.1\r\n';
    for (const [k, v] of Object.entries(s.headers)) head += `${k}: ${String(v)}\r\n`;
    head += `content-length: ${body.length}\r\n\r\n`;
    const { tricklers, normal } = await attack(() => trickle(head, body, 150), 30, LIMITS.requestTimeoutMs);
    for (const t of tricklers) {
      assert.ok(t.closedAfter !== undefined, 'every trickler is disconnected');
      assert.ok(t.closedAfter >= LIMITS.requestTimeoutMs * 0.8, `cut off after ${t.closedAfter} ms: before the timeout`);
      assert.ok(t.closedAfter <= LIMITS.requestTimeoutMs + 8_000, `cut off only after ${t.closedAfter} ms`);
    }
    assert.ok(normal.statuses.length >= 1 && normal.statuses.every((x) => x === 200), `every normal request was served: ${normal.statuses.join(',')}`);
  });

  it('a client that connects and never starts the TLS handshake is dropped after the handshake timeout', async () => {
    const started = Date.now();
    const closed = await new Promise<number>((resolve) => {
      const s = tcpConnect({ host: '127.0.0.1', port: gw.port });
      const give = setTimeout(() => {
        s.destroy();
        resolve(Number.POSITIVE_INFINITY);
      }, LIMITS.headersTimeoutMs + 15_000);
      s.on('error', () => {});
      s.on('close', () => {
        clearTimeout(give);
        resolve(Date.now() - started);
      });
    });
    assert.ok(closed <= LIMITS.headersTimeoutMs + 8_000, `dropped after ${closed} ms`);
  });
});

describe('floods', () => {
  it(`maxConnections (${LIMITS.maxConnections}) idle TCP connections that never say hello do not lock the service out beyond the handshake timeout`, async () => {
    // The regression test of a bug: such connections were kept for ever (see src/gateway/server.ts, clientError).
    const idle: Socket[] = [];
    try {
      await Promise.all(Array.from({ length: LIMITS.maxConnections + 10 }, () => new Promise<void>((resolve) => {
        const s = tcpConnect({ host: '127.0.0.1', port: gw.port });
        idle.push(s);
        s.on('error', () => {});
        s.on('connect', () => resolve());
        s.on('close', () => resolve());
      })));
      const started = Date.now();
      let served = false;
      while (!served && Date.now() - started < LIMITS.headersTimeoutMs + 15_000) {
        served = (await signedQuery(gw, gw.admin, { timeoutMs: 5_000 }).catch(() => ({ status: 0 }))).status === 200;
        if (!served) await sleep(250);
      }
      assert.ok(served, 'a normal client is served again once the idle connections time out');
      assert.ok(idle.every((s) => s.destroyed || s.closed || s.readableEnded), 'the gateway closed every idle connection');
    } finally {
      for (const s of idle) s.destroy();
    }
  });

  it(`a flood of 600 TCP connections (maxConnections ${LIMITS.maxConnections}) is refused beyond the limit, memory stays bounded, and service resumes`, async () => {
    await sleep(500);
    const before = rssKiB(gw.proc.pid!);
    const sockets: Socket[] = [];
    let refused = 0;
    await Promise.all(Array.from({ length: 600 }, () => new Promise<void>((resolve) => {
      const s = tcpConnect({ host: '127.0.0.1', port: gw.port });
      sockets.push(s);
      s.on('error', () => {});
      s.on('close', () => {
        refused++;
        resolve();
      });
      s.on('connect', () => setTimeout(resolve, 200));
    })));
    await sleep(500);
    const during = rssKiB(gw.proc.pid!);
    const open = sockets.filter((s) => !s.destroyed && !s.closed).length;
    assert.ok(open <= LIMITS.maxConnections + 5, `${open} connections held open, more than maxConnections`);
    assert.ok(refused >= 600 - LIMITS.maxConnections - 5, `${refused} refused`);
    for (const s of sockets) s.destroy();
    assert.ok(during - before < RSS_GROWTH_KIB, `RSS grew by ${during - before} KiB under the flood`);
    let served = false;
    for (let i = 0; i < 50 && !served; i++) {
      served = (await signedQuery(gw, gw.admin).catch(() => ({ status: 0 }))).status === 200;
      if (!served) await sleep(200);
    }
    assert.ok(served, 'served once the flood is gone');
  });

  it('a header flood (200 requests with too many fields, 200 with oversized sections) gets its errors and memory stays bounded', async () => {
    const before = rssKiB(gw.proc.pid!);
    const many = ['POST / HTTP/1.1', 'host: localhost', `content-type: ${FORM}`, ...Array.from({ length: 400 }, (_, i) => `x-f${i}: ${i}`), 'connection: close', '', ''].join('\r\n');
    const big = ['POST / HTTP/1.1', 'host: localhost', ...Array.from({ length: 8 }, (_, i) => `x-big${i}: ${'b'.repeat(4000)}`), 'connection: close', '', ''].join('\r\n');
    const codes = new Map<string, number>();
    const one = (text: string) => new Promise<void>((resolve) => {
      let got = '';
      const s = connect({ host: '127.0.0.1', port: gw.port, ca: gw.caPem, servername: 'localhost' }, () => s.write(text));
      s.on('data', (d: Buffer) => (got += d.toString('latin1')));
      s.on('error', () => {});
      s.on('close', () => {
        const code = got === '' ? 'closed' : errorCode(got) ?? `status ${/^HTTP\/1\.1 (\d+)/.exec(got)?.[1]}`;
        codes.set(code, (codes.get(code) ?? 0) + 1);
        resolve();
      });
    });
    for (let round = 0; round < 20; round++) await Promise.all([...Array.from({ length: 10 }, () => one(many)), ...Array.from({ length: 10 }, () => one(big))]);
    const afterRss = rssKiB(gw.proc.pid!);
    assert.equal(codes.get('RequestHeaderSectionTooLarge'), 400, `every flood request got RequestHeaderSectionTooLarge: ${JSON.stringify([...codes])}`);
    assert.ok(afterRss - before < RSS_GROWTH_KIB, `RSS grew by ${afterRss - before} KiB under the header flood`);
    const r = await signedQuery(gw, gw.admin);
    assert.equal(r.status, 200, r.body);
  });
});

describe('one source flooding connections (limits.maxConnectionsPerSource)', () => {
  it('holds at most maxConnectionsPerSource connections of one source, and other clients are served during the flood', async () => {
    const flooded = await fleet.start({ args: ['--config', configFile(fleet.newDir(), { limits: { ...LIMITS, maxConnectionsPerSource: 20 } })] });
    const sockets: Socket[] = [];
    try {
      await Promise.all(Array.from({ length: 200 }, () => new Promise<void>((resolve) => {
        const s = tcpConnect({ host: '127.0.0.1', port: flooded.port, localAddress: '127.0.0.66' });
        sockets.push(s);
        s.on('error', () => {});
        s.on('close', () => resolve());
        s.on('connect', () => setTimeout(resolve, 300));
      })));
      const held = sockets.filter((s) => !s.destroyed && !s.closed).length;
      assert.ok(held <= 20, `${held} connections of one source held (limit 20)`);
      for (let i = 0; i < 5; i++) {
        const r = await signedQuery(flooded, flooded.admin, { source: '127.0.0.1' });
        assert.equal(r.status, 200, `another client is served during the flood: ${r.body}`);
      }
    } finally {
      for (const s of sockets) s.destroy();
    }
  });
});
