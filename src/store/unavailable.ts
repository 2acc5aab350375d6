/**
 * Is this failure the store being out of reach for now (the database server down, restarting,
 * refusing connections, or a connection lost mid-request), rather than a fault of the request
 * or of our code? Such failures are answered ServiceUnavailable (503), which clients retry and
 * which tells an operator where to look; everything else stays InternalFailure (500).
 *
 * PostgreSQL: socket errors, SQLSTATE class 08 (connection exception), 57P01–57P03 (the server
 * shutting down or starting up), 53300 (too many connections), a database that takes no
 * connections now, and the pg client's own words for a lost or timed-out connection.
 * https://www.postgresql.org/docs/15/errcodes-appendix.html
 * SQLite: a database still locked by another process after the busy timeout (SQLITE_BUSY).
 * A full disk or a read-only data dir is not "for now": it stays InternalFailure.
 */
const SOCKET_ERRORS: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const SERVER_STATES: ReadonlySet<string> = new Set(['57P01', '57P02', '57P03', '53300']);
const CLIENT_MESSAGES = /^(?:Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended)/;

export function storeUnavailable(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  // A host name with several addresses fails with one error per address tried.
  if (e instanceof AggregateError && e.errors.some((x) => storeUnavailable(x))) return true;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (SOCKET_ERRORS.has(code) || SERVER_STATES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
    if (code === '55000' && /not currently accepting connections/.test(e.message)) return true;
    if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_')) return true;
  }
  return CLIENT_MESSAGES.test(e.message);
}
