/** docs/errors.md documents every code of the error table, with the same statuses and AWS codes. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { ERROR_CODES, ERRORS, PROTOCOLS } from '../../src/core/errors.js';
import { REPO_ROOT } from '../helpers/paths.js';

it('docs/errors.md lists every error code exactly as the table maps it', () => {
  const rows = new Map<string, string[]>();
  for (const line of readFileSync(join(REPO_ROOT, 'docs', 'errors.md'), 'utf8').split('\n')) {
    const m = /^\| `(\w+)` \|/.exec(line);
    if (m) rows.set(m[1]!, line.split('|').slice(3, 6).map((c) => c.trim()));
  }
  assert.deepEqual([...rows.keys()].sort(), [...ERROR_CODES].sort());
  for (const code of ERROR_CODES) {
    assert.deepEqual(rows.get(code), PROTOCOLS.map((p) => `${ERRORS[code][p].status} \`${ERRORS[code][p].code}\``), code);
  }
});
