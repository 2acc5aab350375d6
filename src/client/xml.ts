/**
 * A small XML reader for AWS query-protocol answers: elements, text and the five entities plus
 * character references; attributes, comments, processing instructions and CDATA are handled
 * but attributes are dropped. No DTDs (so no entity expansion attacks): a `<!DOCTYPE` is an error.
 */

export interface XmlElement {
  readonly name: string;
  readonly children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (m, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return ENTITIES[e] ?? m;
  });
}

export class XmlError extends Error {
  override readonly name = 'XmlError';
}

/** Parses a document and returns its root element. */
export function parseXml(text: string): XmlElement {
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let i = 0;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const chunk = lt < 0 ? text.slice(i) : text.slice(i, lt);
    if (chunk.length > 0) {
      const top = stack.at(-1);
      if (top !== undefined) top.text += decodeEntities(chunk);
      else if (chunk.trim() !== '') throw new XmlError('text outside the root element');
    }
    if (lt < 0) break;
    if (text.startsWith('<?', lt)) {
      i = end(text, '?>', lt);
    } else if (text.startsWith('<!--', lt)) {
      i = end(text, '-->', lt);
    } else if (text.startsWith('<![CDATA[', lt)) {
      const close = text.indexOf(']]>', lt);
      if (close < 0) throw new XmlError('unterminated CDATA');
      const top = stack.at(-1);
      if (top !== undefined) top.text += text.slice(lt + 9, close);
      i = close + 3;
    } else if (text.startsWith('<!', lt)) {
      throw new XmlError('DTDs are not accepted');
    } else if (text.startsWith('</', lt)) {
      const gt = text.indexOf('>', lt);
      if (gt < 0) throw new XmlError('unterminated end tag');
      const name = text.slice(lt + 2, gt).trim();
      const open = stack.pop();
      if (open === undefined || open.name !== name) throw new XmlError(`unexpected </${name}>`);
      i = gt + 1;
    } else {
      const gt = text.indexOf('>', lt);
      if (gt < 0) throw new XmlError('unterminated start tag');
      const inner = text.slice(lt + 1, gt);
      const selfClosing = inner.endsWith('/');
      const name = /^[^\s/>]+/.exec(inner)?.[0];
      if (name === undefined) throw new XmlError('an element without a name');
      const el: XmlElement = { name, children: [], text: '' };
      const parent = stack.at(-1);
      if (parent !== undefined) parent.children.push(el);
      else if (root === undefined) root = el;
      else throw new XmlError('more than one root element');
      if (!selfClosing) stack.push(el);
      i = gt + 1;
    }
  }
  if (stack.length > 0) throw new XmlError(`unclosed <${stack.at(-1)!.name}>`);
  if (root === undefined) throw new XmlError('no root element');
  return root;
}

function end(text: string, token: string, from: number): number {
  const at = text.indexOf(token, from);
  if (at < 0) throw new XmlError(`unterminated ${text.slice(from, from + 4)}`);
  return at + token.length;
}

/** The first child named `name`. */
export function child(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.name === name);
}

/** Follows a path of child names. */
export function path(el: XmlElement | undefined, ...names: string[]): XmlElement | undefined {
  let at = el;
  for (const n of names) at = child(at, n);
  return at;
}

/** The text of the child at `names`, or undefined when it is absent. */
export function textAt(el: XmlElement | undefined, ...names: string[]): string | undefined {
  return path(el, ...names)?.text;
}

/** The `<member>` elements of the list at `names` (empty when the list is absent or empty). */
export function members(el: XmlElement | undefined, ...names: string[]): XmlElement[] {
  return (path(el, ...names)?.children ?? []).filter((c) => c.name === 'member');
}

/**
 * Plain data, as the AWS CLI prints it: a leaf is its text, a list of `<member>`s is an array,
 * anything else an object. `lists` names elements that are lists even when empty.
 */
export function toPlain(el: XmlElement, lists: ReadonlySet<string> = new Set()): unknown {
  if (el.children.length === 0) return lists.has(el.name) ? [] : el.text;
  if (el.children.every((c) => c.name === 'member')) return el.children.map((c) => toPlain(c, lists));
  const out: Record<string, unknown> = {};
  for (const c of el.children) out[c.name] = toPlain(c, lists);
  return out;
}
