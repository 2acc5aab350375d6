/**
 * `portcullis doctor`: configuration, credentials, the endpoint's TLS policy, clock skew and
 * identity, each checked and explained.
 */
import { connect, type ConnectionOptions } from 'node:tls';
import { send } from '../../client/http.js';
import { StsClient } from '../../client/sts.js';
import { loadSharedFiles } from '../../client/sharedFiles.js';
import { tlsFailure } from '../../client/tlsAgent.js';
import { isForwardSecret } from '../../core/tlsSuites.js';
import type { Credentials } from '../../client/credentials.js';
import type { Command, Invocation } from '../command.js';
import { clientContext, type ClientContext } from '../context.js';
import { describeFailure, EXIT } from '../exit.js';

type Status = 'ok' | 'warn' | 'fail' | 'skip';

interface Check {
  readonly check: string;
  readonly status: Status;
  readonly detail: string;
}

/** SigV4 allows ±15 minutes; warn well before that. */
const SKEW_WARN_MS = 60_000;
const SKEW_FAIL_MS = 5 * 60_000;

function handshake(ctx: ClientContext, opts: ConnectionOptions): Promise<{ protocol: string; cipher: string; validTo: string | undefined }> {
  return new Promise((resolve, reject) => {
    const port = Number(ctx.endpoint.port || 443);
    const host = ctx.endpoint.hostname.replace(/^\[|\]$/g, '');
    const servername = /^[\d.]+$|:/.test(host) ? undefined : host;
    const s = connect({ host, port, ...(servername ? { servername } : {}), ...opts });
    s.setTimeout(10_000, () => s.destroy(Object.assign(new Error('TLS handshake timed out'), { code: 'ETIMEDOUT' })));
    s.once('secureConnect', () => {
      const cert = s.getPeerCertificate();
      const r = { protocol: s.getProtocol() ?? '', cipher: s.getCipher().name, validTo: cert.valid_to };
      s.end();
      resolve(r);
    });
    s.once('error', reject);
  });
}

/**
 * Whether the server completes a handshake a weak client offers. These probes send nothing and
 * do not verify the certificate: they only ask what the server would agree to.
 */
async function accepts(ctx: ClientContext, opts: ConnectionOptions): Promise<string | undefined> {
  try {
    const r = await handshake(ctx, { ...opts, rejectUnauthorized: false });
    return `${r.protocol} ${r.cipher}`;
  } catch {
    return undefined;
  }
}

async function tlsChecks(ctx: ClientContext): Promise<Check[]> {
  const out: Check[] = [];
  try {
    const r = await handshake(ctx, { ...ctx.agent.options } as ConnectionOptions);
    const days = r.validTo ? Math.floor((Date.parse(r.validTo) - Date.now()) / 86_400_000) : undefined;
    const fs = isForwardSecret(r.protocol, r.cipher);
    out.push({ check: 'tls', status: fs ? 'ok' : 'fail', detail: `${r.protocol} ${r.cipher}, certificate verifies (${ctx.caSource})${days !== undefined ? `, expires in ${days} days` : ''}` });
    if (days !== undefined && days < 14) out.push({ check: 'tls certificate', status: 'warn', detail: `the certificate expires in ${days} days; renew it` });
  } catch (e) {
    const refused = tlsFailure(e, ctx.endpoint.host) ?? e;
    out.push({ check: 'tls', status: 'fail', detail: describeFailure(refused).message.split('\n')[0]! });
    return out;
  }
  const old = await accepts(ctx, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' });
  out.push(old === undefined
    ? { check: 'tls: old protocols', status: 'ok', detail: 'TLS 1.0 and 1.1 are refused' }
    : { check: 'tls: old protocols', status: 'fail', detail: `the server accepts ${old}; allow TLS 1.2 and 1.3 only` });
  const weak = await accepts(ctx, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: 'AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES128-SHA:AES256-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA' });
  out.push(weak === undefined
    ? { check: 'tls: weak suites', status: 'ok', detail: 'static-RSA and CBC suites are refused' }
    : { check: 'tls: weak suites', status: 'fail', detail: `the server accepts ${weak}; offer forward-secret AEAD suites only` });
  return out;
}

async function clockCheck(ctx: ClientContext): Promise<Check> {
  try {
    const before = Date.now();
    const r = await send({ url: new URL('/_portcullis/health', ctx.endpoint), method: 'GET', headers: {} }, { agent: ctx.agent, timeoutMs: 10_000 });
    const after = Date.now();
    const date = r.headers.date;
    if (date === undefined) return { check: 'clock', status: 'warn', detail: 'the server sent no Date header; skew unknown' };
    // The Date header has whole seconds: compare with the middle of the exchange, allow 1 s.
    const skew = (before + after) / 2 - Date.parse(date);
    const abs = Math.max(0, Math.abs(skew) - 1_000);
    const desc = `${Math.round(Math.abs(skew) / 1000)} s ${skew >= 0 ? 'ahead of' : 'behind'} the server`;
    if (abs >= SKEW_FAIL_MS) return { check: 'clock', status: 'fail', detail: `this clock is ${desc}; signatures fail beyond 15 minutes: sync the clock (NTP)` };
    if (abs >= SKEW_WARN_MS) return { check: 'clock', status: 'warn', detail: `this clock is ${desc}; sync it (NTP)` };
    return { check: 'clock', status: 'ok', detail: `skew ${Math.round(skew / 1000)} s` };
  } catch (e) {
    return { check: 'clock', status: 'skip', detail: `no answer: ${describeFailure(e).message.split('\n')[0]}` };
  }
}

export const doctorCommand: Command = {
  path: ['doctor'],
  summary: 'Check the configuration, credentials, the endpoint\'s TLS policy, clock skew and identity.',
  usage: '[--endpoint-url URL] [--profile NAME]',
  description: `Each check prints ok, warn, fail or skip with what to do. Exit ${EXIT.checkFailed} if any check fails, 0 otherwise.`,
  client: true,
  examples: ['portcullis doctor', 'portcullis doctor --endpoint-url https://gateway.internal:8443 --profile deployer --output json'],
  async run(inv: Invocation) {
    const checks: Check[] = [];
    let files = 'none found';
    try {
      const f = loadSharedFiles(inv.io.env);
      files = `${f.configFile}, ${f.credentialsFile} (${f.profiles.size} profiles)`;
      checks.push({ check: 'config files', status: 'ok', detail: files });
    } catch (e) {
      checks.push({ check: 'config files', status: 'fail', detail: describeFailure(e).message });
    }
    const ctx = clientContext(inv);
    checks.push({ check: 'config', status: 'ok', detail: `endpoint ${ctx.endpoint.origin}, region ${ctx.region}, profile ${ctx.profile}, CA ${ctx.caSource}, min TLS ${ctx.minTls}` });
    let creds: Credentials | undefined;
    try {
      creds = await ctx.credentials();
      const exp = creds.expiration === undefined ? 'long-term' : `expires ${new Date(creds.expiration).toISOString()}`;
      checks.push({ check: 'credentials', status: 'ok', detail: `${creds.accessKeyId} from ${creds.source ?? 'unknown'} (${exp})` });
    } catch (e) {
      checks.push({ check: 'credentials', status: 'fail', detail: describeFailure(e).message });
    }
    checks.push(...(await tlsChecks(ctx)));
    checks.push(await clockCheck(ctx));
    if (creds !== undefined && checks.every((c) => c.check !== 'tls' || c.status === 'ok')) {
      try {
        // One quick attempt: doctor reports, it does not wait out retries.
        const sts = new StsClient({ endpoint: ctx.endpoint, region: ctx.region, agent: ctx.agent, credentials: ctx.credentials, retry: { maxAttempts: 1 }, timeoutMs: 5_000 });
        const me = await sts.getCallerIdentity();
        checks.push({ check: 'identity', status: 'ok', detail: me.arn });
      } catch (e) {
        checks.push({ check: 'identity', status: 'fail', detail: describeFailure(e).message.replace(/\n/g, ' ') });
      }
    } else {
      checks.push({ check: 'identity', status: 'skip', detail: 'needs credentials and a working TLS connection' });
    }
    const failed = checks.some((c) => c.status === 'fail');
    return {
      json: { ok: !failed, checks },
      table: { columns: ['CHECK', 'STATUS', 'DETAIL'], rows: checks.map((c) => [c.check, c.status, c.detail]) },
      ...(failed ? { exitCode: EXIT.checkFailed } : {}),
    };
  },
};
