/**
 * The error table and its renderer: every code in every protocol renders a body in the shape
 * that protocol's AWS SDKs parse, with an HTTP error status, and messages are escaped so that
 * whatever a message echoes cannot break (or inject into) the body.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  ERROR_CODES, ERRORS, escapeXml, quoted, isPortcullisError, PortcullisError, PROTOCOLS, renderError, toPortcullisError,
} from '../../src/core/errors.js';
import { parseAuth, requestFromRecord } from '../../src/sigv4/index.js';

const NASTY = `a<b>c & d 'e' "f" </Message><Injected>x</Injected> &amp; ]]> <![CDATA[`;
const REQUEST_ID = 'req-<1>&"2"';

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|amp|apos|quot);/g, (_, e: string) => ({ lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' })[e]!);
}

/** Text content holds no markup: no `<`, and every `&` starts one of the five entities. */
function assertEscapedText(text: string, what: string): void {
  assert.ok(!text.includes('<') && !text.includes('>'), `${what} holds raw markup: ${text}`);
  assert.doesNotMatch(text, /&(?!(?:lt|gt|amp|apos|quot);)/, `${what} holds a bare &: ${text}`);
}

/** Only characters of XML 1.0's Char production: a parser rejects anything else, even escaped. */
const XML_CHARS = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

describe('error table', () => {
  it('ERROR_CODES lists exactly the codes of ERRORS, and every code has every protocol', () => {
    assert.deepEqual([...ERROR_CODES].sort(), Object.keys(ERRORS).sort());
    assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length);
    assert.deepEqual([...PROTOCOLS].sort(), ['json', 'query', 'restXml']);
    for (const code of ERROR_CODES) {
      assert.deepEqual(Object.keys(ERRORS[code]).sort(), [...PROTOCOLS].sort(), code);
    }
  });

  for (const code of ERROR_CODES) {
    it(`${code}: an HTTP error status, a wire code, a fault that agrees with the status`, () => {
      const err = new PortcullisError(code, 'm');
      for (const protocol of PROTOCOLS) {
        const w = err.wire(protocol);
        assert.deepEqual(w, ERRORS[code][protocol]);
        assert.ok(Number.isInteger(w.status) && w.status >= 400 && w.status <= 599, `${code}/${protocol}: status ${w.status}`);
        assert.match(w.code, /^[A-Za-z][A-Za-z0-9]*$/, `${code}/${protocol}: wire code ${w.code}`);
        assert.equal(w.fault, w.status >= 500 ? 'Receiver' : 'Sender', `${code}/${protocol}: fault ${w.fault} for ${w.status}`);
      }
    });
  }
});

describe('renderError', () => {
  for (const code of ERROR_CODES) {
    for (const protocol of PROTOCOLS) {
      it(`${code} as ${protocol}`, () => {
        const err = new PortcullisError(code, NASTY);
        const w = ERRORS[code][protocol];
        const r = renderError(err, { protocol, requestId: REQUEST_ID });
        assert.equal(r.status, w.status);
        assert.ok(r.status >= 400 && r.status <= 599);
        switch (protocol) {
          case 'query': {
            const m = /^<ErrorResponse(?: xmlns="[^"]*")?><Error><Type>([^<]*)<\/Type><Code>([^<]*)<\/Code><Message>([^<]*)<\/Message><\/Error><RequestId>([^<]*)<\/RequestId><\/ErrorResponse>$/.exec(r.body);
            assert.ok(m, `not an ErrorResponse: ${r.body}`);
            assert.equal(m[1], w.fault);
            assert.equal(m[2], w.code);
            assertEscapedText(m[3]!, 'Message');
            assert.equal(unescapeXml(m[3]!), NASTY);
            assertEscapedText(m[4]!, 'RequestId');
            assert.equal(unescapeXml(m[4]!), REQUEST_ID);
            assert.match(r.headers['content-type']!, /xml/);
            assert.equal(r.headers['x-amzn-requestid'], REQUEST_ID);
            break;
          }
          case 'json': {
            const body = JSON.parse(r.body) as Record<string, unknown>;
            assert.deepEqual(Object.keys(body).sort(), ['__type', 'message']);
            assert.equal(body['__type'], w.code);
            assert.equal(body['message'], NASTY);
            assert.equal(r.headers['x-amzn-requestid'], REQUEST_ID);
            assert.equal(r.headers['x-amzn-errortype'], w.code);
            assert.equal(r.headers['content-type'], 'application/x-amz-json-1.0');
            break;
          }
          case 'restXml': {
            const m = /^<\?xml version="1\.0" encoding="UTF-8"\?>\n?<Error><Code>([^<]*)<\/Code><Message>([^<]*)<\/Message><RequestId>([^<]*)<\/RequestId><\/Error>$/.exec(r.body);
            assert.ok(m, `not an S3 Error: ${r.body}`);
            assert.equal(m[1], w.code);
            assertEscapedText(m[2]!, 'Message');
            assert.equal(unescapeXml(m[2]!), NASTY);
            assertEscapedText(m[3]!, 'RequestId');
            assert.equal(unescapeXml(m[3]!), REQUEST_ID);
            assert.match(r.headers['content-type']!, /xml/);
            assert.equal(r.headers['x-amz-request-id'], REQUEST_ID);
            break;
          }
        }
      });
    }
  }

  it('query: the xmlns is written, escaped, only when given', () => {
    const err = new PortcullisError('AccessDenied', 'no');
    const plain = renderError(err, { protocol: 'query', requestId: 'r' });
    assert.match(plain.body, /^<ErrorResponse><Error>/);
    const ns = renderError(err, { protocol: 'query', requestId: 'r', xmlns: 'https://sts.amazonaws.com/doc/2011-06-15/?a="b"&c' });
    assert.ok(ns.body.startsWith('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/?a=&quot;b&quot;&amp;c"><Error>'), ns.body);
  });

  it('json: the content type follows jsonVersion', () => {
    const err = new PortcullisError('Throttling', 'slow down');
    assert.equal(renderError(err, { protocol: 'json', requestId: 'r', jsonVersion: '1.1' }).headers['content-type'], 'application/x-amz-json-1.1');
    assert.equal(renderError(err, { protocol: 'json', requestId: 'r', jsonVersion: '1.0' }).headers['content-type'], 'application/x-amz-json-1.0');
  });

  it('escapeXml escapes the five XML specials and nothing else', () => {
    assert.equal(escapeXml(`<a href="x">Tom & 'Jerry'</a>`), '&lt;a href=&quot;x&quot;&gt;Tom &amp; &apos;Jerry&apos;&lt;/a&gt;');
    assert.equal(escapeXml('&amp;'), '&amp;amp;');
    assert.equal(escapeXml('plain text, é € 😀'), 'plain text, é € 😀');
  });

  it('quoted: no 20-character piece of a token, key or signature survives, whatever its alphabet (base64url dashes, dots)', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.+/=';
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom(...alphabet), minLength: 40, maxLength: 400 }), (secret) => {
      const out = quoted(`PCT1.${secret}`, 64);
      for (let i = 0; i + 20 <= secret.length; i++) assert.ok(!out.includes(secret.slice(i, i + 20)), out);
    }), { numRuns: 500 });
    assert.equal(quoted('20261123T120000Z', 32), '20261123T120000Z', 'short values are quoted as they are');
  });

  it('escapeXml: the no-escape shortcut gives what the two replaces give, for any string', () => {
    const reference = (s: string) => s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!)
      .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD');
    const unit = fc.oneof(fc.constantFrom('<', '&', '"', "'", '\u0000', '\u000b', '\uFFFE', '\uD800', '\uDC00', '😀', 'a', ' ', '\t'), fc.string({ unit: 'binary', maxLength: 1 }));
    fc.assert(fc.property(fc.string({ unit, maxLength: 40 }), (s) => assert.equal(escapeXml(s), reference(s))), { numRuns: 2000 });
  });

  it('XML bodies stay well-formed when a message holds characters XML 1.0 forbids', () => {
    for (const protocol of ['query', 'restXml'] as const) {
      for (const bad of ['\u0000', '\u0001', '\u0008', '\u000b', '\u001f', '\uFFFE', '\uFFFF']) {
        const r = renderError(new PortcullisError('IncompleteSignature', `before${bad}after`), { protocol, requestId: 'r' });
        assert.match(r.body, XML_CHARS, `${protocol}: U+${bad.charCodeAt(0).toString(16).padStart(4, '0')} reaches the XML body`);
        assert.match(r.body, /<Message>before.*after<\/Message>/s);
      }
    }
  });

  it('... including messages that echo a client-supplied, percent-decoded query parameter', () => {
    // A presigned request whose credential date carries %01: the parser's message quotes it.
    const req = requestFromRecord(
      'GET',
      '/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F2024%01%02%03%2Fus-east-1%2Fsts%2Faws4_request' +
        '&X-Amz-Date=20240909T120000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00',
      { host: 'example.com' },
    );
    let err: unknown;
    try {
      parseAuth(req);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof PortcullisError, 'the malformed credential is refused');
    assert.equal(err.code, 'AuthorizationQueryParametersError');
    for (const protocol of ['query', 'restXml'] as const) {
      const r = renderError(err, { protocol, requestId: 'r' });
      assert.match(r.body, XML_CHARS, `${protocol}: a control character from the query reaches the XML body: ${JSON.stringify(r.body)}`);
    }
  });

  it('json bodies escape control characters (JSON.stringify) and stay parseable', () => {
    const msg = 'a\u0000b\u0001c"d\\e\n';
    const r = renderError(new PortcullisError('IncompleteSignature', msg), { protocol: 'json', requestId: 'r' });
    assert.ok(!/[\u0000-\u001f]/.test(r.body));
    assert.equal((JSON.parse(r.body) as { message: string }).message, msg);
  });
});

describe('PortcullisError helpers', () => {
  it('toPortcullisError passes PortcullisErrors through and hides everything else behind InternalFailure', () => {
    const e = new PortcullisError('AccessDenied', 'denied');
    assert.equal(toPortcullisError(e), e);
    for (const thrown of [new Error('db password is hunter2'), 'hunter2', undefined, null, { message: 'hunter2' }]) {
      const p = toPortcullisError(thrown);
      assert.ok(p instanceof PortcullisError);
      assert.equal(p.code, 'InternalFailure');
      assert.ok(!p.message.includes('hunter2'));
      assert.equal(renderError(p, { protocol: 'restXml', requestId: 'r' }).status, 500);
    }
  });

  it('isPortcullisError and the error fields', () => {
    const e = new PortcullisError('RequestExpired', 'late');
    assert.ok(isPortcullisError(e));
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'PortcullisError');
    assert.equal(e.code, 'RequestExpired');
    assert.equal(e.message, 'late');
    assert.ok(!isPortcullisError(new Error('x')));
    assert.ok(!isPortcullisError({ code: 'RequestExpired', message: 'late' }));
  });
});
