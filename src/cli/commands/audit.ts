/** `portcullis audit tail`: the audit log of a local data dir, pretty and filterable. */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AuditEvent } from '../../gateway/audit.js';
import type { Command, Invocation } from '../command.js';
import { dataDirOf } from '../context.js';
import { EXIT, UsageError } from '../exit.js';

interface Filter {
  (e: AuditEvent): boolean;
}

/** `10m`, `2h`, `1d` or an ISO time -> epoch ms. */
function sinceOf(s: string, now: number): number {
  const m = /^(\d+)([smhd])$/.exec(s);
  if (m) return now - Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new UsageError(`--since \`${s}\` must be like 10m, 2h, 1d or an ISO time`, 'audit tail');
  return t;
}

function filterOf(inv: Invocation): Filter {
  const decision = inv.str('decision');
  if (decision !== undefined && !['allow', 'deny', 'error'].includes(decision)) throw new UsageError('--decision must be allow, deny or error', 'audit tail');
  const principal = inv.str('principal')?.toLowerCase();
  const action = inv.str('action')?.toLowerCase();
  const status = inv.str('status');
  const since = inv.str('since');
  const sinceMs = since === undefined ? undefined : sinceOf(since, Date.now());
  return (e) =>
    (decision === undefined || e.decision === decision) &&
    (principal === undefined || (e.principal ?? '').toLowerCase().includes(principal) || (e.accessKeyId ?? '').toLowerCase() === principal) &&
    (action === undefined || (e.action ?? e.service ?? '').toLowerCase().includes(action)) &&
    (status === undefined || String(e.status) === status || (status.endsWith('xx') && String(e.status)[0] === status[0])) &&
    (sinceMs === undefined || Date.parse(e.time) >= sinceMs);
}

function parseLine(line: string): AuditEvent | undefined {
  if (line.trim() === '') return undefined;
  try {
    const e = JSON.parse(line) as AuditEvent;
    return typeof e.time === 'string' && typeof e.decision === 'string' ? e : undefined;
  } catch {
    return undefined; // a line being written, or not ours
  }
}

const COLOR = { allow: '\x1b[32m', deny: '\x1b[31m', error: '\x1b[33m' } as const;

function pretty(e: AuditEvent, color: boolean): string {
  const d = e.decision.padEnd(5);
  const dec = color ? `${COLOR[e.decision]}${d}\x1b[0m` : d;
  const action = e.action ?? e.service ?? '-';
  return [e.time, dec, String(e.status), (e.principal ?? e.accessKeyId ?? '(anonymous)').padEnd(44), action.padEnd(30), e.resource ?? '-', e.reason, e.requestId].join('  ') + '\n';
}

export const auditCommand: Command = {
  path: ['audit', 'tail'],
  summary: 'Show the latest audit events of a local data dir, filtered; -f keeps following.',
  usage: '[--data-dir DIR | --file FILE] [-n N] [-f] [--decision allow|deny|error] [--principal TEXT] [--action TEXT] [--status CODE|4xx] [--since 10m|ISO]',
  description: 'Reads DIR/audit/audit.log (what `serve` writes). Lines: time, decision, status, principal, action, resource, reason, request id.\nWith --output json, each event is printed as one JSON line (NDJSON).',
  options: {
    'data-dir': { type: 'string', value: 'DIR', description: 'the gateway\'s data dir (or PORTCULLIS_DATA_DIR); default ./.portcullis' },
    file: { type: 'string', value: 'FILE', description: 'an audit log file to read instead' },
    lines: { type: 'string', short: 'n', value: 'N', description: 'how many of the latest matching events; default 20' },
    follow: { type: 'boolean', short: 'f', description: 'keep printing new events until interrupted (follows rotation)' },
    decision: { type: 'string', value: 'allow|deny|error', description: 'only this decision' },
    principal: { type: 'string', value: 'TEXT', description: 'principal ARN containing TEXT, or this access key id' },
    action: { type: 'string', value: 'TEXT', description: 'service:Action containing TEXT, e.g. iam:Create' },
    status: { type: 'string', value: 'CODE', description: 'HTTP status, e.g. 403 or 4xx' },
    since: { type: 'string', value: '10m|ISO', description: 'only events from then on' },
  },
  examples: [
    'portcullis audit tail',
    'portcullis audit tail --decision deny -n 50',
    'portcullis audit tail -f --principal user/alice --action sts:',
    'portcullis audit tail --since 1h --status 4xx --output json | jq .reason',
  ],
  async run(inv) {
    const file = inv.str('file') !== undefined ? resolve(inv.io.cwd, inv.str('file')!) : join(dataDirOf(inv), 'audit', 'audit.log');
    if (!existsSync(file)) throw new UsageError(`no audit log at ${file}; point --data-dir at the gateway's data dir, or --file at a log`, 'audit tail');
    const n = Number(inv.str('lines') ?? 20);
    if (!Number.isInteger(n) || n < 0) throw new UsageError('-n must be a whole number', 'audit tail');
    const keep = filterOf(inv);
    const json = inv.output === 'json';
    const color = !json && process.stdout.isTTY === true && inv.io.env['NO_COLOR'] === undefined;
    const print = (e: AuditEvent) => inv.io.stdout(json ? JSON.stringify(e) + '\n' : pretty(e, color));

    const text = readFileSync(file, 'utf8');
    const lines = text.split('\n');
    // A last line without its newline is still being written: followed, it completes later.
    let partial = lines.pop() ?? '';
    const matching = lines.map(parseLine).filter((e): e is AuditEvent => e !== undefined && keep(e));
    if (!json && !inv.bool('follow') && matching.length === 0) inv.io.stderr('(no matching events)\n');
    for (const e of matching.slice(Math.max(0, matching.length - n))) print(e);
    if (!inv.bool('follow')) {
      const last = parseLine(partial); // a complete file's last line has its newline; this is a fragment or nothing
      if (last !== undefined && keep(last) && n > 0) print(last);
      return EXIT.ok;
    }

    // Follow: read what is appended; a smaller file means it rotated, so start from its beginning.
    let pos = Buffer.byteLength(text);
    inv.io.stderr(`following ${file} (Ctrl-C to stop)\n`);
    await new Promise<void>((done) => {
      const timer = setInterval(() => {
        let size: number;
        try {
          size = statSync(file).size;
        } catch {
          return; // between rotation's rename and the new file
        }
        if (size < pos) {
          pos = 0;
          partial = '';
        }
        if (size === pos) return;
        const fd = openSync(file, 'r');
        try {
          const buf = Buffer.alloc(size - pos);
          readSync(fd, buf, 0, buf.length, pos);
          pos = size;
          const lines = (partial + buf.toString('utf8')).split('\n');
          partial = lines.pop() ?? '';
          for (const l of lines) {
            const e = parseLine(l);
            if (e !== undefined && keep(e)) print(e);
          }
        } finally {
          closeSync(fd);
        }
      }, 200);
      const stop = () => {
        clearInterval(timer);
        done();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return EXIT.ok;
  },
};
