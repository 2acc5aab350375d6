/**
 * Signed GetCallerIdentity requests per second through Portcullis, as a ratio to a bare Node
 * HTTPS server that answers 200 to the same POST, measured in the same run.
 *
 * Both servers run as child processes with the same TLS policy and certificates; the load
 * comes from wrk (another process) over keep-alive TLS on 127.0.0.1, in bounded runs that
 * alternate between the two targets.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'node:https';
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { accountOfKeyId } from '../src/core/ids.js';
import { Signer } from '../src/sigv4/sign.js';
import { startGateway, type RunningGateway } from '../test/helpers/gateway.js';
import { REPO_ROOT } from '../test/helpers/paths.js';

const BODY = 'Action=GetCallerIdentity&Version=2011-06-15';

/** A bare HTTPS server with the gateway's own TLS options, answering 200 to any request. */
const BARE_SERVER = `
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { secureContextOptions } from ${JSON.stringify(join(REPO_ROOT, 'dist/src/tls/policy.js'))};
const dir = process.argv[2];
const identities = ['ecdsa', 'rsa'].map((t) => ({ certPem: readFileSync(join(dir, 'tls', t + '.cert.pem'), 'utf8'), keyPem: readFileSync(join(dir, 'tls', t + '.key.pem'), 'utf8') }));
const body = '<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::000000000000:user/bare</Arn></GetCallerIdentityResult></GetCallerIdentityResponse>';
const server = createServer(secureContextOptions({ minTls: '1.2', identities }), (req, res) => {
  req.resume();
  req.on('end', () => { res.writeHead(200, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) }); res.end(body); });
});
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
process.on('SIGTERM', () => process.exit(0));
`;

function wrkScript(headers: Record<string, string>, body = BODY): string {
  const lines = ['wrk.method = "POST"', `wrk.body = ${JSON.stringify(body)}`];
  for (const [k, v] of Object.entries(headers)) if (k !== 'host') lines.push(`wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
  return lines.join('\n') + '\n';
}

function wrk(url: string, script: string, seconds: number): { rps: number; non2xx: number } {
  const out = execFileSync('wrk', ['-t1', '-c32', `-d${seconds}s`, '-s', script, url], { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  if (!Number.isFinite(rps)) throw new Error(`could not read wrk's output:\n${out}`);
  return { rps, non2xx };
}

export async function benchGateway(): Promise<number | undefined> {
  if (spawnSync('wrk', ['--version']).error) {
    console.log('gateway: skipped, wrk is not installed (apt-get install wrk)');
    return undefined;
  }
  const work = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  let gw: RunningGateway | undefined;
  let bare: ReturnType<typeof spawn> | undefined;
  try {
    gw = await startGateway({ dataDir: join(work, 'data') });
    const serverFile = join(work, 'bare.mjs');
    writeFileSync(serverFile, BARE_SERVER);
    bare = spawn(process.execPath, [serverFile, gw.dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const barePort = await new Promise<number>((resolve) => bare!.stdout!.on('data', (d: Buffer) => resolve(Number(/listening (\d+)/.exec(d.toString())?.[1]))));

    // One signature replayed for the whole run: valid for 15 minutes, checked in full each time.
    const url = new URL(gw.url);
    const signed = new Signer().sign(
      { method: 'POST', path: '/', headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: BODY },
      { credentials: gw.admin, region: 'us-east-1', service: 'sts' },
    );
    const script = join(work, 'request.lua');
    writeFileSync(script, wrkScript(signed.headers as Record<string, string>));

    const rounds = 3;
    const seconds = 3;
    const ours: number[] = [];
    const base: number[] = [];
    wrk(`${gw.url}/`, script, 1); // warm up both
    wrk(`https://127.0.0.1:${barePort}/`, script, 1);
    for (let i = 0; i < rounds; i++) {
      const o = wrk(`${gw.url}/`, script, seconds);
      if (o.non2xx > 0) throw new Error(`the gateway refused ${o.non2xx} benchmark requests`);
      ours.push(o.rps);
      base.push(wrk(`https://127.0.0.1:${barePort}/`, script, seconds).rps);
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const o = median(ours);
    const b = median(base);
    const ratio = o / b;

    // AssumeRole: each request mints a session (a sealed token), through the whole pipeline.
    const iam = new IAMClient({ endpoint: gw.url, region: 'us-east-1', credentials: gw.admin, requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: gw.caPem }) }) });
    const role = await iam.send(new CreateRoleCommand({
      RoleName: 'Bench',
      AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountOfKeyId(gw.admin.accessKeyId)}:root` }, Action: 'sts:AssumeRole' }] }),
    }));
    const assumeBody = `Action=AssumeRole&Version=2011-06-15&RoleArn=${encodeURIComponent(role.Role!.Arn!)}&RoleSessionName=bench`;
    const assume = new Signer().sign(
      { method: 'POST', path: '/', headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: assumeBody },
      { credentials: gw.admin, region: 'us-east-1', service: 'sts' },
    );
    const assumeScript = join(work, 'assume.lua');
    writeFileSync(assumeScript, wrkScript(assume.headers as Record<string, string>, assumeBody));
    const a = wrk(`${gw.url}/`, assumeScript, seconds);
    if (a.non2xx > 0) throw new Error(`the gateway refused ${a.non2xx} AssumeRole requests`);

    console.log('gateway: signed requests/s (wrk, 32 keep-alive TLS connections)');
    console.log(`  bare node https            ${Math.round(b).toLocaleString('en-US').padStart(10)} /s   1.00 (baseline)`);
    console.log(`  portcullis GetCallerIdentity ${Math.round(o).toLocaleString('en-US').padStart(8)} /s   ${ratio.toFixed(2)} of bare (target >= 0.75)`);
    console.log(`  portcullis AssumeRole      ${Math.round(a.rps).toLocaleString('en-US').padStart(10)} /s   ${(a.rps / b).toFixed(2)} of bare`);
    return ratio;
  } finally {
    bare?.kill('SIGTERM');
    await gw?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
