/**
 * Signed GetCallerIdentity requests per second through Portcullis, as a ratio to a bare Node
 * HTTPS server that answers 200 to the same POST, measured in the same run.
 *
 * Every server runs as a child process with the same TLS policy and certificates; the load
 * comes from wrk (another process) over keep-alive TLS on 127.0.0.1, in bounded runs that
 * alternate between the targets: the bare server, the bare server that also verifies the
 * signature (the ceiling), the bare server with 2 µs of busy work per request (how much a little
 * work costs here), Portcullis on one worker (like for like with the one bare process),
 * and Portcullis as `npm start` runs it (one worker per core).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'node:https';
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { accountOfKeyId } from '../src/core/ids.js';
import { Signer } from '../src/sigv4/sign.js';
import { startGateway, type RunningGateway } from '../test/helpers/gateway.js';
import { REPO_ROOT } from '../test/helpers/paths.js';
import { hasWrk, postScript, wrk, wrkRounds } from './wrk.js';

const BODY = 'Action=GetCallerIdentity&Version=2011-06-15';

/**
 * A bare HTTPS server with the gateway's own TLS options, answering 200 to any request. With
 * `verify`, it first does the least any SigV4 endpoint must: hash the body and verify the
 * signature (our verifier, the key looked up from memory), and nothing else: no audit, routing
 * or answer built. Its ratio to bare is the ceiling of any gateway that checks signatures here.
 * With `busy`, it spends 2 µs per request waiting on the clock instead: what a little work per
 * request costs in these ratios on this machine.
 */
const BARE_SERVER = `
import { createServer } from 'node:https';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { secureContextOptions } from ${JSON.stringify(join(REPO_ROOT, 'dist/src/tls/policy.js'))};
import { Verifier } from ${JSON.stringify(join(REPO_ROOT, 'dist/src/sigv4/verify.js'))};
import { requestFromWire } from ${JSON.stringify(join(REPO_ROOT, 'dist/src/sigv4/request.js'))};
const [dir, mode] = process.argv.slice(2);
const identities = ['ecdsa', 'rsa'].map((t) => ({ certPem: readFileSync(join(dir, 'tls', t + '.cert.pem'), 'utf8'), keyPem: readFileSync(join(dir, 'tls', t + '.key.pem'), 'utf8') }));
const secretAccessKey = /aws_secret_access_key = (\\S+)/.exec(readFileSync(join(dir, 'credentials'), 'utf8'))[1];
const found = { status: 'found', secretAccessKey, principal: {} };
const verifier = new Verifier({ region: 'us-east-1', lookup: () => found });
const body = '<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::000000000000:user/bare</Arn></GetCallerIdentityResult></GetCallerIdentityResponse>';
const server = createServer(secureContextOptions({ minTls: '1.2', identities }), (req, res) => {
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => {
    if (mode === 'busy') {
      const until = process.hrtime.bigint() + 2000n;
      while (process.hrtime.bigint() < until);
    }
    if (mode === 'verify') {
      const wire = requestFromWire(req.method, req.url, req.rawHeaders);
      const auth = verifier.parse(wire);
      verifier.checkTimeAndScope(auth);
      verifier.checkSignature(wire, auth, found, { bodySha256: createHash('sha256').update(Buffer.concat(parts)).digest('hex') });
    }
    res.writeHead(200, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
process.on('SIGTERM', () => process.exit(0));
`;

export async function benchGateway(): Promise<number | undefined> {
  if (!hasWrk()) {
    console.log('gateway: skipped, wrk is not installed (apt-get install wrk)');
    return undefined;
  }
  const work = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  const gateways: RunningGateway[] = [];
  const procs: ReturnType<typeof spawn>[] = [];
  try {
    const gw = await startGateway({ dataDir: join(work, 'data') });
    gateways.push(gw);
    // The product as `npm start` runs it: one worker per core, on the same data dir.
    const cores = availableParallelism();
    const gwAll = cores > 1 ? await startGateway({ dataDir: gw.dataDir, env: { PORTCULLIS_WORKERS: '0' } }) : undefined;
    if (gwAll !== undefined) gateways.push(gwAll);
    const serverFile = join(work, 'bare.mjs');
    writeFileSync(serverFile, BARE_SERVER);
    const bareUrl = async (mode: string): Promise<string> => {
      const p = spawn(process.execPath, [serverFile, gw.dataDir, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
      procs.push(p);
      const port = await new Promise<number>((resolve) => p.stdout!.on('data', (d: Buffer) => resolve(Number(/listening (\d+)/.exec(d.toString())?.[1]))));
      return `https://127.0.0.1:${port}`;
    };

    // One signature per target (each has its own host), replayed for the whole run: valid for
    // 15 minutes, checked in full each time.
    const scriptFor = (base: string, name: string, body = BODY): string => {
      const signed = new Signer().sign(
        { method: 'POST', path: '/', headers: { host: new URL(base).host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body },
        { credentials: gw.admin, region: 'us-east-1', service: 'sts' },
      );
      const file = join(work, `${name}.lua`);
      writeFileSync(file, postScript(signed.headers as Record<string, string>, body));
      return file;
    };
    const targets = [
      { name: 'bare', url: await bareUrl('plain') },
      { name: 'busy', url: await bareUrl('busy') },
      { name: 'verify', url: await bareUrl('verify') },
      { name: 'one', url: gw.url },
      ...(gwAll === undefined ? [] : [{ name: 'all', url: gwAll.url }]),
    ].map((t) => ({ name: t.name, url: `${t.url}/`, script: scriptFor(t.url, t.name) }));
    const m = wrkRounds(targets);
    const rate = (name: string) => m.get(name)!.opsPerSec;
    const ratio = (name: string) => m.get(name)!.ratio;

    // AssumeRole: each request mints a session (a sealed token), through the whole pipeline.
    const iam = new IAMClient({ endpoint: gw.url, region: 'us-east-1', credentials: gw.admin, requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: gw.caPem }) }) });
    const role = await iam.send(new CreateRoleCommand({
      RoleName: 'Bench',
      AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountOfKeyId(gw.admin.accessKeyId)}:root` }, Action: 'sts:AssumeRole' }] }),
    }));
    const assumeBody = `Action=AssumeRole&Version=2011-06-15&RoleArn=${encodeURIComponent(role.Role!.Arn!)}&RoleSessionName=bench`;
    const assume = wrk(`${gw.url}/`, scriptFor(gw.url, 'assume', assumeBody), 3);

    const row = (name: string, rps: number, note: string) => console.log(`  ${name.padEnd(36)} ${Math.round(rps).toLocaleString('en-US').padStart(8)} /s   ${note}`);
    console.log('gateway: signed requests/s (wrk, 32 keep-alive TLS connections; ratios: medians of paired rounds)');
    row('bare node https', rate('bare'), '1.00 (baseline)');
    row('bare + 2 µs of busy work', rate('busy'), `${ratio('busy').toFixed(2)} of bare (what 2 µs per request costs here)`);
    row('bare + SigV4 verification only', rate('verify'), `${ratio('verify').toFixed(2)} of bare (the ceiling: nothing but the signature checked)`);
    row('portcullis GetCallerIdentity', rate('one'), `${ratio('one').toFixed(2)} of bare (target >= 0.75), one worker`);
    if (gwAll !== undefined) row(`portcullis, ${cores} workers (the default)`, rate('all'), `${ratio('all').toFixed(2)} of bare`);
    row('portcullis AssumeRole', assume, `${(assume / rate('bare')).toFixed(2)} of bare, one worker`);
    return ratio('one');
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    for (const g of gateways) await g.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
