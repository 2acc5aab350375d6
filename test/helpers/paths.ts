import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, from a compiled file under dist/. */
export const REPO_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
})();

/**
 * AWS's SigV4 test suite, read from ../shared (never copied into the repo). Under CI the suite
 * must be there: a missing folder fails the run instead of skipping the tests.
 */
export function sigv4VectorsDir(): string | undefined {
  const dir = resolve(process.env['PORTCULLIS_SIGV4_VECTORS'] ?? join(REPO_ROOT, '..', 'shared', 'vectors', 'sigv4'));
  if (existsSync(join(dir, 'v4'))) return dir;
  if (process.env['CI'] === 'true') throw new Error(`the SigV4 test vectors are missing: expected them at ${dir}`);
  return undefined;
}
