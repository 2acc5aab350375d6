/**
 * `portcullis COMMAND …`: the gateway (`serve`, `init`) and a client for it (`sts`, `request`,
 * the IAM admin commands, `simulate`, `audit tail`, `doctor`). One file per command group under
 * `commands/`; exit codes in `exit.ts`.
 */
import { helpText, parse, type Command, type Invocation, type Io } from './command.js';
import { accessKeyCommands } from './commands/accessKeys.js';
import { auditCommand } from './commands/audit.js';
import { doctorCommand } from './commands/doctor.js';
import { groupCommands } from './commands/groups.js';
import { initCommand } from './commands/init.js';
import { policyCommands, simulateCommand } from './commands/policies.js';
import { requestCommand } from './commands/request.js';
import { roleCommands } from './commands/roles.js';
import { resealCommand, runReseal, runServe, serveCommand } from './commands/serve.js';
import { stsCommands } from './commands/sts.js';
import { userCommands } from './commands/users.js';
import { describeFailure, EXIT, UsageError } from './exit.js';
import { render } from './output.js';

export const COMMANDS: readonly Command[] = [
  serveCommand, resealCommand, initCommand, ...stsCommands, requestCommand, ...userCommands, ...groupCommands, ...roleCommands,
  ...accessKeyCommands, ...policyCommands, simulateCommand, auditCommand, doctorCommand,
];

function overview(): string {
  const lines = ['usage: portcullis COMMAND [ARGS] [--output table|json] [--help]', '', 'Commands:'];
  for (const c of COMMANDS) lines.push(`  ${c.path.join(' ').padEnd(26)} ${c.summary.split('. ')[0]!.replace(/\.$/, '')}`);
  lines.push('', 'Client commands find the endpoint, credentials and CA bundle as the AWS CLI does (flags, AWS_* variables,', '~/.aws/config and credentials), then fall back to ./.portcullis (what `portcullis serve` created).', '', 'Run `portcullis COMMAND --help` for options and examples. Exit codes: see docs/client.md.');
  return lines.join('\n') + '\n';
}

function groupHelp(group: string, cmds: readonly Command[]): string {
  return [`usage: portcullis ${group} SUBCOMMAND [ARGS]`, '', 'Subcommands:', ...cmds.map((c) => `  ${c.path.slice(1).join(' ').padEnd(16)} ${c.summary}`), '', `Run \`portcullis ${group} SUBCOMMAND --help\` for options and examples.`].join('\n') + '\n';
}

function find(argv: readonly string[]): Command | undefined {
  for (let k = 3; k >= 1; k--) {
    const c = COMMANDS.find((c) => c.path.length === k && c.path.every((w, i) => argv[i] === w));
    if (c !== undefined) return c;
  }
  return undefined;
}

/** Runs one command line; returns the exit code, or undefined when a server keeps running. */
export async function runCli(argv: readonly string[], io: Io): Promise<number | undefined> {
  const [first] = argv;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') {
    io.stdout(overview());
    return EXIT.ok;
  }
  const cmd = find(argv);
  if (cmd === undefined) {
    const group = COMMANDS.filter((c) => c.path[0] === first && c.path.length > 1);
    if (group.length > 0) {
      const sub = argv[1];
      const asksHelp = sub === undefined || sub === '--help' || sub === '-h' || sub === 'help';
      (asksHelp ? io.stdout : io.stderr)((asksHelp ? '' : `portcullis: unknown subcommand \`${first} ${sub}\`\n`) + groupHelp(first, group));
      return sub === undefined ? EXIT.usage : asksHelp ? EXIT.ok : EXIT.usage;
    }
    io.stderr(`portcullis: unknown command \`${first}\`\n${overview()}`);
    return EXIT.usage;
  }
  const rest = argv.slice(cmd.path.length);
  if (cmd === serveCommand || cmd === resealCommand) {
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout(helpText(cmd));
      return EXIT.ok;
    }
    return cmd === serveCommand ? runServe(rest) : runReseal(rest);
  }
  try {
    const { values, positionals } = parse(cmd, rest);
    if (values['help'] === true) {
      io.stdout(helpText(cmd));
      return EXIT.ok;
    }
    const output = (values['output'] as string | undefined) ?? 'table';
    if (output !== 'table' && output !== 'json') throw new UsageError('--output must be table or json', cmd.path.join(' '));
    const str = (n: string) => {
      const v = values[n];
      return typeof v === 'string' ? v : undefined;
    };
    const inv: Invocation = {
      positionals, io, output,
      str,
      bool: (n) => values[n] === true,
      list: (n) => {
        const v = values[n];
        return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : [];
      },
      need: (n) => {
        const v = str(n);
        if (v === undefined || v === '') throw new UsageError(`--${n} is required`, cmd.path.join(' '));
        return v;
      },
      progress: (m) => io.stderr(`${m}\n`),
    };
    const result = await cmd.run(inv);
    if (typeof result === 'number') return result;
    if (result === undefined) return EXIT.ok;
    io.stdout(render(result, output));
    return result.exitCode ?? EXIT.ok;
  } catch (e) {
    const f = describeFailure(e);
    io.stderr(`portcullis: ${f.message}\n`);
    return f.exitCode;
  }
}

