#!/usr/bin/env node
/** The `portcullis` executable: see run.ts for the commands. */
import type { Io } from './command.js';
import { describeFailure, EXIT } from './exit.js';
import { runCli } from './run.js';

const io: Io = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
  env: process.env,
  cwd: process.cwd(),
};

runCli(process.argv.slice(2), io).then(
  (code) => {
    // undefined: `serve` is running; the server keeps the process alive.
    if (code !== undefined) process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`portcullis: ${describeFailure(e).message}\n`);
    process.exitCode = EXIT.internal;
  },
);
