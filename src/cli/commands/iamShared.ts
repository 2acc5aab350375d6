/** Helpers shared by the admin commands. */
import type { PrincipalKind } from '../../client/iam.js';
import type { Invocation } from '../command.js';
import { UsageError } from '../exit.js';

/** The one positional a command needs, or a usage error that names it. */
export function arg(inv: Invocation, index: number, what: string, command: string): string {
  const v = inv.positionals[index];
  if (v === undefined || v === '') throw new UsageError(`${what} is missing`, command);
  return v;
}

/** Exactly one of --user, --group, --role. */
export function target(inv: Invocation, command: string): { kind: PrincipalKind; name: string } {
  const given = (['user', 'group', 'role'] as const).filter((k) => inv.str(k) !== undefined);
  if (given.length !== 1) throw new UsageError('name exactly one of --user NAME, --group NAME or --role NAME', command);
  const kind = given[0]!;
  return { kind, name: inv.str(kind)! };
}

export const TARGET_OPTIONS = {
  user: { type: 'string', value: 'NAME', description: 'an IAM user' },
  group: { type: 'string', value: 'NAME', description: 'an IAM group' },
  role: { type: 'string', value: 'NAME', description: 'an IAM role' },
} as const;

export const done = (what: string, json: unknown = { ok: true }) => ({ json, text: `${what}\n` });
