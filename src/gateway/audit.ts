/**
 * The audit trail of SPEC §1.4: one JSON line per request, allowed or denied, appended to
 * DIR/audit/audit.log and rotated by size (audit.log.1 is the newest old file). Events hold
 * no secret, signature or session token: the type below has no field for one.
 *
 * With several workers (`--workers N`), every worker appends its own batches to the one file
 * (O_APPEND: each batch is one write, so batches never interleave inside a line) and the cluster
 * primary alone rotates it: a worker that finds the file full says so (`shared.full`), the primary
 * moves the files along (`rotateWhenFull`) and tells every worker to reopen (`reopen`).
 */
import { closeSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const FLUSH_MS = 50;

export interface AuditEvent {
  readonly time: string;
  readonly requestId: string;
  readonly principal: string | null;
  readonly accessKeyId: string | null;
  readonly service: string | null;
  readonly action: string | null;
  readonly resource: string | null;
  readonly decision: 'allow' | 'deny' | 'error';
  /** Machine-readable: the error code for failures, the rule for decisions. */
  readonly reason: string;
  readonly sourceIp: string;
  readonly tlsVersion: string | null;
  readonly tlsSuite: string | null;
  readonly status: number;
  readonly latencyMs: number;
}

/**
 * Lines gathered and handed on together every FLUSH_MS (or at 64 KiB): one write for many
 * requests instead of one each; a crash can lose at most that window.
 */
class LineBatch {
  readonly #flushTo: (lines: string) => void;
  #pending = '';
  #timer: NodeJS.Timeout | undefined;

  constructor(flushTo: (lines: string) => void) {
    this.#flushTo = flushTo;
  }

  add(lines: string): void {
    this.#pending += lines;
    if (this.#pending.length >= 64 * 1024) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending === '') return;
    const lines = this.#pending;
    this.#pending = '';
    this.#flushTo(lines);
  }
}

/** What an operator is told when the audit file cannot be written, and when it can again. */
export function auditReportLogger(log: { error(msg: string, f?: Record<string, unknown>): void; info(msg: string, f?: Record<string, unknown>): void }): (r: AuditWriteReport) => void {
  return (r) => r.state === 'failing'
    ? log.error('cannot write the audit log: events are kept in memory (up to audit.maxFileBytes) and written when it can be', { ...r })
    : log.info('the audit log is written again', { ...r });
}

/** The audit file could not be written (`failing`), or can again (`recovered`). */
export interface AuditWriteReport {
  readonly state: 'failing' | 'recovered';
  /** Events dropped so far because the backlog outgrew maxFileBytes. */
  readonly dropped: number;
  readonly error?: string;
}

/** What the pipeline needs of the audit trail. */
export interface AuditTrail {
  write(event: AuditEvent): void;
  close(): Promise<void>;
}

export class AuditLog implements AuditTrail {
  readonly #dir: string;
  readonly #file: string;
  readonly #maxBytes: number;
  readonly #keep: number;
  /** Written synchronously, one batch at a time: a rotation never races a pending write. */
  #fd: number;
  #size: number;
  readonly #batch = new LineBatch((lines) => this.#writeLines(lines));
  /** Lines not yet written (the file could not be written), oldest first. */
  #backlog = '';
  /** The rest of a line batch a write stopped in the middle of; written before the backlog. */
  #partial: Buffer | undefined;
  #failing = false;
  #dropped = 0;
  #retry: NodeJS.Timeout | undefined;
  readonly #report: ((r: AuditWriteReport) => void) | undefined;
  /** The file is shared with other writers, and rotated by someone else (see the top of this file). */
  readonly #shared: SharedAuditFile | undefined;
  /** When this writer last said the file is full (at most once a second until it is reopened). */
  #saidFullAt = -Infinity;

  constructor(dir: string, opts: { maxFileBytes: number; keepFiles: number; report?: (r: AuditWriteReport) => void; shared?: SharedAuditFile | undefined }) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.#dir = dir;
    this.#file = join(dir, 'audit.log');
    this.#maxBytes = opts.maxFileBytes;
    this.#keep = opts.keepFiles;
    this.#report = opts.report;
    this.#shared = opts.shared;
    this.#size = sizeOf(this.#file);
    this.#fd = this.#open();
  }

  get path(): string {
    return this.#file;
  }

  #open(): number {
    return openSync(this.#file, 'a', 0o600);
  }

  /** Queues one event; see LineBatch. */
  write(event: AuditEvent): void {
    this.#batch.add(JSON.stringify(event) + '\n');
  }

  /**
   * Writes the backlog and `lines`. A write that fails (disk full, a read-only or broken data dir)
   * loses nothing: the bytes not written stay in memory, up to one file's worth (maxFileBytes),
   * and are written at the next flush or retry, in order. Only beyond that bound are the oldest
   * lines dropped, and counted. The process never dies of it, so reads keep being served.
   */
  #writeLines(lines: string): void {
    this.#backlog += lines;
    try {
      if (this.#fd < 0) this.#fd = this.#open();
      if (this.#partial !== undefined) {
        this.#writeAll(this.#partial);
        this.#partial = undefined;
      }
      if (this.#shared !== undefined) this.#writeShared();
      // Our own file: write what fits in it, rotate at a line boundary, go on with the rest.
      else while (this.#backlog !== '') {
        const rest = this.#backlog;
        // Mostly it all fits: then it is encoded once, and not measured first.
        if (this.#size + rest.length * 3 <= this.#maxBytes) {
          this.#backlog = '';
          this.#writeAll(Buffer.from(rest));
          break;
        }
        let cut = rest.length;
        let bytes = Buffer.byteLength(rest);
        while (this.#size + bytes > this.#maxBytes && cut > 0) {
          cut = rest.lastIndexOf('\n', cut - 2) + 1;
          bytes = Buffer.byteLength(rest.slice(0, cut));
        }
        if (cut === 0) {
          if (this.#size > 0) {
            this.#rotate();
            continue;
          }
          cut = rest.indexOf('\n') + 1; // a single line larger than the limit gets a file of its own
        }
        this.#backlog = rest.slice(cut);
        this.#writeAll(Buffer.from(rest.slice(0, cut)));
      }
      if (this.#failing) {
        this.#failing = false;
        this.#report?.({ state: 'recovered', dropped: this.#dropped });
      }
    } catch (e) {
      this.#trouble(e);
    }
  }

  /**
   * A shared file: the whole backlog in one write (other writers' batches land before or after it,
   * never inside), then, if the file has reached its size, the rotator is told. Files may pass
   * maxFileBytes by what the writers append before the rotation: about a batch each.
   */
  #writeShared(): void {
    const lines = this.#backlog;
    if (lines !== '') {
      this.#backlog = '';
      this.#writeAll(Buffer.from(lines));
    }
    const now = performance.now();
    if (now - this.#saidFullAt >= 1000 && fstatSync(this.#fd).size >= this.#maxBytes) {
      this.#saidFullAt = now;
      this.#shared!.full();
    }
  }

  /** The shared file was rotated: the next batch goes to a new audit.log. */
  reopen(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
    this.#saidFullAt = -Infinity;
  }

  /** All of `buf`, or what is left of it kept in #partial when a write fails part way. */
  #writeAll(buf: Buffer): void {
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(this.#fd, buf, off);
    } catch (e) {
      this.#partial = buf.subarray(off);
      throw e;
    } finally {
      this.#size += off;
    }
  }

  #trouble(e: unknown): void {
    let over = Buffer.byteLength(this.#backlog) + (this.#partial?.length ?? 0) - this.#maxBytes;
    while (over > 0 && this.#backlog !== '') {
      const eol = this.#backlog.indexOf('\n') + 1 || this.#backlog.length;
      over -= Buffer.byteLength(this.#backlog.slice(0, eol));
      this.#backlog = this.#backlog.slice(eol);
      this.#dropped++;
    }
    if (!this.#failing) {
      this.#failing = true;
      this.#report?.({ state: 'failing', dropped: this.#dropped, error: (e as NodeJS.ErrnoException).code ?? String(e) });
    }
    // Retried without waiting for the next request.
    this.#retry ??= setTimeout(() => {
      this.#retry = undefined;
      this.#writeLines('');
    }, 1000);
    this.#retry.unref();
  }

  #rotate(): void {
    closeSync(this.#fd);
    this.#fd = -1;
    moveAlong(this.#dir, this.#keep);
    this.#size = 0;
    this.#fd = this.#open();
  }

  /** Audit events lost because the file could not be written for too long. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Flushes and closes the file. */
  close(): Promise<void> {
    this.#batch.flush();
    clearTimeout(this.#retry);
    if (this.#fd >= 0) closeSync(this.#fd);
    return Promise.resolve();
  }
}

/** How a writer of a shared audit file tells the one that rotates it that the file is full. */
export interface SharedAuditFile {
  full(): void;
}

/** audit.log becomes audit.log.1, .1 becomes .2, …; the oldest beyond `keep` goes. */
function moveAlong(dir: string, keep: number): void {
  rmSync(join(dir, `audit.log.${keep}`), { force: true });
  for (let i = keep - 1; i >= 1; i--) {
    try {
      renameSync(join(dir, `audit.log.${i}`), join(dir, `audit.log.${i + 1}`));
    } catch {
      // that generation does not exist yet
    }
  }
  renameSync(join(dir, 'audit.log'), join(dir, 'audit.log.1'));
}

/**
 * The rotation of a shared audit file (the cluster primary's part): true if audit.log had
 * reached maxFileBytes and was moved along, and its writers must reopen. Several writers that
 * find it full at once rotate it once: after the first, audit.log is new (or not there yet).
 */
export function rotateWhenFull(dir: string, opts: { maxFileBytes: number; keepFiles: number }): boolean {
  if (sizeOf(join(dir, 'audit.log')) < opts.maxFileBytes) return false;
  moveAlong(dir, opts.keepFiles);
  return true;
}

/** Between the writers of a shared audit file and the cluster primary that rotates it. */
export interface AuditMessage {
  readonly portcullis: 'audit-full' | 'audit-rotated';
}

export function isAuditMessage(m: unknown, kind: AuditMessage['portcullis']): m is AuditMessage {
  return typeof m === 'object' && m !== null && (m as { portcullis?: unknown }).portcullis === kind;
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
