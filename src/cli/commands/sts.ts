/** `portcullis sts whoami | assume-role | session-token | decode-message`. */
import type { TemporaryCredentials } from '../../client/sts.js';
import type { Command, Invocation } from '../command.js';
import { clientContext, readDocument } from '../context.js';
import { UsageError } from '../exit.js';
import { fields, type Result } from '../output.js';

const FORMATS = ['env', 'json', 'process'] as const;
type Format = (typeof FORMATS)[number];

function formatOf(inv: Invocation, command: string): Format {
  const f = inv.str('format') ?? (inv.output === 'json' ? 'json' : 'env');
  if (!(FORMATS as readonly string[]).includes(f)) throw new UsageError(`--format must be env, json or process, got \`${f}\``, command);
  return f as Format;
}

/** POSIX shell single-quoting. */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Credentials printed on purpose, as the user asked: env exports to `eval`, JSON, or the
 * `credential_process` shape (Version 1) so this command can itself be a credential_process.
 */
function credentialsResult(c: TemporaryCredentials, format: Format, extra: Record<string, string>): Result {
  const expiration = new Date(c.expiration).toISOString();
  if (format === 'env') {
    const text = [
      `export AWS_ACCESS_KEY_ID=${shellQuote(c.accessKeyId)}`,
      `export AWS_SECRET_ACCESS_KEY=${shellQuote(c.secretAccessKey)}`,
      `export AWS_SESSION_TOKEN=${shellQuote(c.sessionToken)}`,
      `export AWS_CREDENTIAL_EXPIRATION=${shellQuote(expiration)}`,
    ].join('\n') + '\n';
    return { json: null, text, raw: true };
  }
  const processShape = { Version: 1, AccessKeyId: c.accessKeyId, SecretAccessKey: c.secretAccessKey, SessionToken: c.sessionToken, Expiration: expiration };
  const json = format === 'process' ? processShape : { Credentials: { AccessKeyId: c.accessKeyId, SecretAccessKey: c.secretAccessKey, SessionToken: c.sessionToken, Expiration: expiration }, ...extra };
  return { json, text: JSON.stringify(json, null, 2) + '\n', raw: true };
}

const FORMAT_OPTION = { type: 'string', value: 'env|json|process', description: 'env: shell exports (default); json: STS\'s fields; process: credential_process output' } as const;

export const stsCommands: Command[] = [
  {
    path: ['sts', 'whoami'],
    summary: 'Show who the resolved credentials belong to (GetCallerIdentity) and where they came from.',
    usage: '',
    client: true,
    examples: ['portcullis sts whoami', 'portcullis sts whoami --profile deployer --output json'],
    async run(inv) {
      const ctx = clientContext(inv);
      const creds = await ctx.credentials();
      const me = await ctx.sts().getCallerIdentity();
      const json = { Account: me.account, UserId: me.userId, Arn: me.arn, AccessKeyId: creds.accessKeyId, Source: creds.source ?? 'unknown', ...(creds.expiration !== undefined ? { Expiration: new Date(creds.expiration).toISOString() } : {}) };
      return {
        json,
        table: fields([['Account', me.account], ['UserId', me.userId], ['Arn', me.arn], ['AccessKeyId', creds.accessKeyId], ['Source', json.Source], ['Expiration', json.Expiration]]),
      };
    },
  },
  {
    path: ['sts', 'assume-role'],
    summary: 'Assume a role and print its temporary credentials.',
    usage: '--role-arn ARN [--session-name NAME] [--duration SECONDS] [--external-id ID] [--policy JSON|@FILE] [--format env|json|process]',
    client: true,
    options: {
      'role-arn': { type: 'string', value: 'ARN', description: 'the role to assume' },
      'session-name': { type: 'string', value: 'NAME', description: 'the role session name; default portcullis-<time>' },
      duration: { type: 'string', value: 'SECONDS', description: 'session lifetime, 900 up to the role\'s maximum; default 3600' },
      'external-id': { type: 'string', value: 'ID', description: 'the external id the trust policy asks for' },
      policy: { type: 'string', value: 'JSON|@FILE', description: 'a session policy that narrows the session' },
      format: FORMAT_OPTION,
    },
    examples: [
      'eval "$(portcullis sts assume-role --role-arn arn:aws:iam::123456789012:role/Deployer)"',
      'portcullis sts assume-role --role-arn arn:aws:iam::123456789012:role/Deployer --external-id ext-42 --format json',
      '# in ~/.aws/config:  credential_process = portcullis sts assume-role --role-arn ARN --format process',
    ],
    async run(inv) {
      const ctx = clientContext(inv);
      const duration = inv.str('duration');
      const d = duration === undefined ? undefined : Number(duration);
      if (d !== undefined && !Number.isInteger(d)) throw new UsageError('--duration must be a whole number of seconds', 'sts assume-role');
      const policy = inv.str('policy');
      const r = await ctx.sts().assumeRole({
        roleArn: inv.need('role-arn'),
        roleSessionName: inv.str('session-name') ?? `portcullis-${Date.now()}`,
        ...(d !== undefined ? { durationSeconds: d } : {}),
        ...(inv.str('external-id') !== undefined ? { externalId: inv.str('external-id')! } : {}),
        ...(policy !== undefined ? { policy: readDocument(policy, inv, '--policy') } : {}),
      });
      return credentialsResult(r.credentials, formatOf(inv, 'sts assume-role'), { AssumedRoleArn: r.assumedRoleArn, AssumedRoleId: r.assumedRoleId });
    },
  },
  {
    path: ['sts', 'session-token'],
    summary: 'Get temporary credentials for the calling IAM user (GetSessionToken).',
    usage: '[--duration SECONDS] [--format env|json|process]',
    client: true,
    options: {
      duration: { type: 'string', value: 'SECONDS', description: '900 to 129600; default 43200' },
      format: FORMAT_OPTION,
    },
    examples: ['eval "$(portcullis sts session-token --duration 3600)"', 'portcullis sts session-token --format json'],
    async run(inv) {
      const ctx = clientContext(inv);
      const duration = inv.str('duration');
      const c = await ctx.sts().getSessionToken(duration === undefined ? {} : { durationSeconds: Number(duration) });
      return credentialsResult(c, formatOf(inv, 'sts session-token'), {});
    },
  },
  {
    path: ['sts', 'decode-message'],
    summary: 'Decode the "Encoded authorization failure message" of an AccessDenied (DecodeAuthorizationMessage).',
    usage: 'MESSAGE',
    client: true,
    examples: ['portcullis sts decode-message "$ENCODED" --output json'],
    async run(inv) {
      const msg = inv.positionals[0];
      if (msg === undefined) throw new UsageError('the encoded message is missing', 'sts decode-message');
      const decoded = await clientContext(inv).sts().decodeAuthorizationMessage(msg);
      let json: unknown = decoded;
      try {
        json = JSON.parse(decoded);
      } catch {
        /* shown as text */
      }
      return { json, text: typeof json === 'string' ? json : JSON.stringify(json, null, 2) };
    },
  },
];
