/** IPv4 and IPv6 addresses and CIDR blocks, as the IpAddress condition operators compare them. */
import { isIP } from 'node:net';

interface Address {
  readonly v: 4 | 6;
  readonly n: bigint;
}

function parseV6(s: string): bigint | undefined {
  let text = s;
  let tail: bigint[] = [];
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two 16-bit groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = parseV4(v4[1]!);
    if (n === undefined) return undefined;
    tail = [n >> 16n, n & 0xffffn];
    text = text.slice(0, -v4[1]!.length) + (text.endsWith('::' + v4[1]) ? '' : '0');
    if (text.endsWith(':0')) text = text.slice(0, -2);
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const r = rest ? rest.split(':') : [];
  const missing = 8 - tail.length - h.length - r.length;
  if (rest === undefined ? missing !== 0 : missing < 0) return undefined;
  const groups = [...h, ...Array<string>(rest === undefined ? 0 : missing).fill('0'), ...r];
  let n = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  for (const t of tail) n = (n << 16n) | t;
  return n;
}

function parseV4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined;
  return parts.reduce((n, p) => (n << 8n) | BigInt(Number(p)), 0n);
}

export function parseAddress(s: string): Address | undefined {
  const kind = isIP(s);
  if (kind === 4) {
    const n = parseV4(s);
    return n === undefined ? undefined : { v: 4, n };
  }
  if (kind === 6) {
    const n = parseV6(s);
    return n === undefined ? undefined : { v: 6, n };
  }
  return undefined;
}

/** `203.0.113.0/24`, `2001:db8::/32`, or a bare address (one host). */
export function compileCidr(cidr: string): ((ip: string) => boolean) | undefined {
  const slash = cidr.indexOf('/');
  const base = parseAddress(slash < 0 ? cidr : cidr.slice(0, slash));
  if (base === undefined) return undefined;
  const width = base.v === 4 ? 32 : 128;
  const bits = slash < 0 ? width : Number(cidr.slice(slash + 1));
  if (!Number.isInteger(bits) || bits < 0 || bits > width) return undefined;
  const shift = BigInt(width - bits);
  const net = base.n >> shift;
  return (ip) => {
    const a = parseAddress(ip);
    return a !== undefined && a.v === base.v && a.n >> shift === net;
  };
}
