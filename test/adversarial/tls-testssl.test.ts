/**
 * testssl.sh (the Debian package `testssl.sh`, command `testssl`) against a live gateway: only
 * TLS 1.2 and 1.3 offered (no SSLv2/3, TLS 1.0, 1.1), forward secrecy, and every suite an
 * ECDHE/DHE (or TLS 1.3) AEAD one; with `--min-tls 1.3`, no TLS 1.2. Without testssl.sh the test
 * is skipped, except under CI=true, where it fails (.ci/run installs it).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gatewayFleet } from '../helpers/fleet.js';

function findTestssl(): string | undefined {
  for (const name of ['testssl', 'testssl.sh']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim() !== '') return r.stdout.trim();
  }
  return undefined;
}

const TESTSSL = findTestssl();
const CI = process.env['CI'] === 'true' || process.env['CI'] === '1';
const skip = TESTSSL === undefined && !CI ? 'testssl.sh is not installed (apt-get install testssl.sh); under CI=true this fails' : false;

interface Finding {
  readonly id: string;
  readonly severity: string;
  readonly finding: string;
}

/** Protocols (-p), forward secrecy (-f) and every suite per protocol (-E), as testssl's flat JSON. */
function scan(port: number, jsonFile: string): Promise<Map<string, Finding>> {
  return new Promise((resolve, reject) => {
    const args = ['--quiet', '--color', '0', '--warnings', 'off', '--nodns', 'none', '-p', '-f', '-E', '--jsonfile', jsonFile, `127.0.0.1:${port}`];
    const p = spawn(TESTSSL!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`testssl exited with ${code}:\n${out.slice(-3000)}`));
      const findings = JSON.parse(readFileSync(jsonFile, 'utf8')) as Finding[];
      resolve(new Map(findings.map((f) => [f.id, f])));
    });
  });
}

/** A TLS 1.2 suite name (OpenSSL spelling) with forward secrecy and an AEAD cipher. */
const FS_AEAD_12 = /^(ECDHE|DHE)-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305|AES(128|256)-CCM)$/;
const TLS13 = /^TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256|AES_128_CCM(_8)?_SHA256)$/;

function suites(findings: Map<string, Finding>, proto: 'tls1_2' | 'tls1_3'): string[] {
  return [...findings.values()].filter((f) => f.id.startsWith(`cipher-${proto}_`)).map((f) => f.finding.trim().split(/\s+/)[3]!);
}

describe('testssl.sh against a live gateway', { skip }, () => {
  const fleet = gatewayFleet('testssl');

  it('default policy: TLS 1.2 and 1.3 only, forward secrecy, AEAD suites only', { timeout: 300_000 }, async () => {
    assert.ok(TESTSSL, 'testssl.sh is installed (CI=true: .ci/run installs the Debian package testssl.sh)');
    const gw = await fleet.start();
    const f = await scan(gw.port, join(fleet.newDir(), 'testssl.json'));
    for (const id of ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1']) assert.match(f.get(id)?.finding ?? 'missing', /^not offered/, `${id}: ${f.get(id)?.finding}`);
    assert.match(f.get('TLS1_2')?.finding ?? 'missing', /^offered/, 'TLS 1.2 offered');
    assert.match(f.get('TLS1_3')?.finding ?? 'missing', /^offered/, 'TLS 1.3 offered');
    assert.equal(f.get('PFS')?.severity, 'OK', `forward secrecy: ${f.get('PFS')?.finding}`);
    const v12 = suites(f, 'tls1_2');
    const v13 = suites(f, 'tls1_3');
    assert.ok(v12.length > 0 && v13.length > 0, `suites were enumerated: ${v12} / ${v13}`);
    for (const s of v12) assert.match(s, FS_AEAD_12, `TLS 1.2 suite ${s} is forward-secret AEAD`);
    for (const s of v13) assert.match(s, TLS13, `TLS 1.3 suite ${s}`);
    for (const id of f.keys()) if (id.startsWith('cipher-')) assert.match(id, /^cipher-tls1_[23]_/, `no suite of an old protocol: ${id}`);
    for (const [id, x] of f) assert.ok(!['HIGH', 'CRITICAL'].includes(x.severity), `testssl finding ${id}: ${x.severity} ${x.finding}`);
  });

  it('with --min-tls 1.3: TLS 1.3 only', { timeout: 300_000 }, async () => {
    assert.ok(TESTSSL, 'testssl.sh is installed');
    const gw = await fleet.start({ args: ['--min-tls', '1.3'] });
    const f = await scan(gw.port, join(fleet.newDir(), 'testssl.json'));
    for (const id of ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1', 'TLS1_2']) assert.match(f.get(id)?.finding ?? 'missing', /^not offered/, `${id}: ${f.get(id)?.finding}`);
    assert.match(f.get('TLS1_3')?.finding ?? 'missing', /^offered/);
    assert.deepEqual(suites(f, 'tls1_2'), []);
    for (const s of suites(f, 'tls1_3')) assert.match(s, TLS13);
    assert.equal(f.get('PFS')?.severity, 'OK');
  });
});
