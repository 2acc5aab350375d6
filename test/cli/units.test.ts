/** The CLI's pure pieces: exit-code mapping, tables, host inference. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CredentialsInvalid, CredentialsNotFound, NetworkError, ServiceError, Timeout, TlsRefused } from '../../src/client/errors.js';
import { describeFailure, EXIT, UsageError } from '../../src/cli/exit.js';
import { render, renderTable } from '../../src/cli/output.js';
import { inferFromHost } from '../../src/cli/commands/request.js';
import { REPO_ROOT } from '../helpers/paths.js';

describe('cli pieces', () => {
  it('each failure has its exit code and a next step', () => {
    const svc = (awsCode: string, status: number) => new ServiceError({ awsCode, status, message: 'm', requestId: 'rid' });
    const cases: Array<[unknown, number, RegExp]> = [
      [new UsageError('bad', 'users create'), EXIT.usage, /Run `portcullis users create --help`/],
      [new CredentialsNotFound('none'), EXIT.credentials, /none/],
      [new CredentialsInvalid('broken'), EXIT.credentials, /broken/],
      [new TlsRefused('old tls', 'X'), EXIT.connection, /old tls/],
      [new NetworkError('down', 'ECONNREFUSED'), EXIT.connection, /doctor/],
      [new Timeout('slow'), EXIT.connection, /slow/],
      [svc('AccessDenied', 403), EXIT.refused, /^AccessDenied: m \(request id rid\)\n.*simulate/],
      [svc('SignatureDoesNotMatch', 403), EXIT.refused, /doctor/],
      [svc('Throttling', 400), EXIT.serviceFailure, /wait/],
      [svc('InternalFailure', 500), EXIT.serviceFailure, /InternalFailure/],
      [new Error('boom'), EXIT.internal, /unexpected error: boom/],
    ];
    for (const [e, code, msg] of cases) {
      const f = describeFailure(e);
      assert.equal(f.exitCode, code, String(e));
      assert.match(f.message, msg);
    }
    assert.deepEqual(Object.values(EXIT), [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('tables align columns; JSON mode prints the JSON', () => {
    assert.equal(renderTable({ columns: ['A', 'LONGER'], rows: [['x', 1], ['yyyy', undefined]] }), 'A     LONGER\n----  ------\nx     1\nyyyy  -\n');
    assert.equal(renderTable({ columns: ['A'], rows: [] }), 'A\n-\n(none)\n');
    assert.equal(render({ json: { a: 1 }, table: { columns: ['A'], rows: [] } }, 'json'), '{\n  "a": 1\n}\n');
    assert.equal(render({ json: null, text: 'export X=1\n', raw: true }, 'json'), 'export X=1\n');
  });

  it('service and region from AWS host names', () => {
    assert.deepEqual(inferFromHost('sts.amazonaws.com'), { service: 'sts' });
    assert.deepEqual(inferFromHost('lambda.eu-west-1.amazonaws.com'), { service: 'lambda', region: 'eu-west-1' });
    assert.deepEqual(inferFromHost('sts.us-gov-west-1.amazonaws.com'), { service: 'sts', region: 'us-gov-west-1' });
    assert.deepEqual(inferFromHost('127.0.0.1'), {});
    assert.deepEqual(inferFromHost('amazonaws.com.evil.test'), {});
  });
});

describe('docs/client.md', () => {
  const doc = readFileSync(join(REPO_ROOT, 'docs/client.md'), 'utf8');

  it('documents exactly the exit codes the CLI uses', () => {
    const table = doc.slice(doc.indexOf('### Exit codes'));
    const documented = [...table.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
    assert.deepEqual(documented, Object.values(EXIT));
  });

  it('names every client error code', () => {
    const codes = [new CredentialsNotFound('x'), new CredentialsInvalid('x'), new ServiceError({ awsCode: 'x', status: 400, message: 'x' }), new TlsRefused('x', 'x'), new NetworkError('x', 'x'), new Timeout('x')].map((e) => e.code);
    for (const c of codes) assert.ok(doc.includes(`\`${c}\``), `docs/client.md does not mention ${c}`);
  });
});
