import { HeaderMap, type HttpRequest, splitTarget } from '../../src/sigv4/index.js';

export interface ParsedText {
  readonly request: HttpRequest;
  readonly rawHeaders: string[];
  readonly body: Buffer;
}

/**
 * Reads a request written out as text (the test suite's `request.txt` form): request line,
 * `Name:value` headers with obs-fold continuation lines, blank line, body. Values lose their
 * leading and trailing white space as an HTTP parser strips it.
 */
export function parseHttpText(text: string): ParsedText {
  const sep = text.indexOf('\n\n');
  const head = sep < 0 ? text : text.slice(0, sep);
  const body = Buffer.from(sep < 0 ? '' : text.slice(sep + 2), 'utf8');
  const [requestLine, ...lines] = head.split('\n');
  const sp = requestLine!.indexOf(' ');
  const method = requestLine!.slice(0, sp);
  let target = requestLine!.slice(sp + 1);
  target = target.replace(/ HTTP\/\d\.\d$/, '');
  const raw: string[] = [];
  for (const line of lines) {
    if (line === '') continue;
    if (/^[ \t]/.test(line)) {
      raw[raw.length - 1] += '\n' + line; // obs-fold continuation
      continue;
    }
    const colon = line.indexOf(':');
    raw.push(line.slice(0, colon), line.slice(colon + 1).replace(/^[ \t]+/, ''));
  }
  for (let i = 1; i < raw.length; i += 2) raw[i] = raw[i]!.replace(/[ \t]+$/, '');
  return { request: { method, ...splitTarget(target), headers: HeaderMap.fromRaw(raw) }, rawHeaders: raw, body };
}
