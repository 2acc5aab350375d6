/**
 * The audit trail of SPEC §1.4: one JSON line per request, allowed or denied, appended to
 * DIR/audit/audit.log and rotated by size (audit.log.1 is the newest old file). Events hold
 * no secret, signature or session token: the type below has no field for one.
 *
 * With several workers (`--workers N`), each worker batches its lines as usual and forwards the
 * batch to the cluster primary (`ForwardedAudit`), which alone writes and rotates the file.
 */
import { closeSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
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

/** Where the pipeline sends audit events: the file itself, or the process that writes it. */
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

  constructor(dir: string, opts: { maxFileBytes: number; keepFiles: number; report?: (r: AuditWriteReport) => void }) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.#dir = dir;
    this.#file = join(dir, 'audit.log');
    this.#maxBytes = opts.maxFileBytes;
    this.#keep = opts.keepFiles;
    this.#report = opts.report;
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
    this.append(JSON.stringify(event) + '\n');
  }

  /** Whole lines as `write` makes them: a worker's forwarded batch. */
  append(lines: string): void {
    this.#batch.add(lines);
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
      // Write what fits in the current file, rotate at a line boundary, go on with the rest.
      while (this.#backlog !== '') {
        const rest = this.#backlog;
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
    rmSync(join(this.#dir, `audit.log.${this.#keep}`), { force: true });
    for (let i = this.#keep - 1; i >= 1; i--) {
      try {
        renameSync(join(this.#dir, `audit.log.${i}`), join(this.#dir, `audit.log.${i + 1}`));
      } catch {
        // that generation does not exist yet
      }
    }
    renameSync(this.#file, join(this.#dir, 'audit.log.1'));
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

/** A worker's audit trail: the same batching, then the batch goes to `send` (the primary). */
export class ForwardedAudit implements AuditTrail {
  readonly #batch: LineBatch;
  #last: Promise<void> = Promise.resolve();

  constructor(send: (lines: string) => Promise<void>) {
    this.#batch = new LineBatch((lines) => {
      this.#last = send(lines).catch(() => undefined); // a gone primary: nothing to write to
    });
  }

  write(event: AuditEvent): void {
    this.#batch.add(JSON.stringify(event) + '\n');
  }

  /** Flushes, and resolves once the primary has the last batch. */
  async close(): Promise<void> {
    this.#batch.flush();
    await this.#last;
  }
}

/** A batch of audit lines on its way from a worker to the primary. */
export interface AuditMessage {
  readonly portcullis: 'audit';
  readonly lines: string;
}

export function isAuditMessage(m: unknown): m is AuditMessage {
  return typeof m === 'object' && m !== null && (m as { portcullis?: unknown }).portcullis === 'audit' && typeof (m as { lines?: unknown }).lines === 'string';
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
