/**
 * The gateway process: bootstrap, the TLS listener with its limits, certificate reload, and
 * graceful shutdown.
 */
import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import type { Config } from '../config/schema.js';
import { type Clock, systemClock } from '../core/clock.js';
import { PortcullisError, renderError } from '../core/errors.js';
import { newRequestId } from '../core/ids.js';
import type { ChangeWatch, Store, StoreChange } from '../store/types.js';
import { secureContextOptions, type Identity } from '../tls/policy.js';
import { AuditLog, auditReportLogger } from './audit.js';
import { bootstrap, bootstrapCertificateFiles, layout, writeCertificateBundle } from './bootstrap.js';
import { Authorizer } from './authorizer.js';
import { applyChange, cacheLifetime } from './changes.js';
import { CredentialCache } from './credentials.js';
import { IdentitySigner } from './identity.js';
import { JwksSource } from './jwks.js';
import { Upstream } from './proxy.js';
import { TokenKeyRing } from './tokenKeys.js';
import { LastUsedTracker } from './lastUsed.js';
import { errorFields, type Logger } from './log.js';
import { Metrics } from './metrics.js';
import { Pipeline } from './pipeline.js';
import { AuthThrottle, limitPerSource } from './throttle.js';

export interface StartOptions {
  readonly config: Config;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Reads the config again from its sources (file, environment, flags), for `reload`. */
  readonly reloadConfig?: () => Config;
  /** When this process is one of several workers (`--workers N`) serving one listener. */
  readonly worker?: WorkerRole | undefined;
}

export interface WorkerRole {
  /** 1..count */
  readonly id: number;
  readonly count: number;
  /** Sends a change this process made to its siblings (through the cluster primary). */
  readonly announce: (change: StoreChange) => void;
  /** Tells the primary that the shared audit file reached its size (it rotates it, then calls `auditRotated`). */
  readonly auditFull: () => void;
}

export class Gateway {
  readonly config: Config;
  readonly store: Store;
  readonly metrics: Metrics;
  readonly accountId: string;
  readonly #server: Server;
  readonly #log: Logger;
  readonly #audit: AuditLog;
  readonly #lastUsed: LastUsedTracker;
  readonly #watchers: FSWatcher[] = [];
  readonly #tokenKeys: TokenKeyRing;
  readonly #upstreams: Map<string, Upstream>;
  readonly #reloadConfig: (() => Config) | undefined;
  readonly #credentials: CredentialCache;
  readonly #authorizer: Authorizer;
  #changes: ChangeWatch | undefined;
  #stopping = false;
  #reloadTimer: NodeJS.Timeout | undefined;

  private constructor(opts: StartOptions, store: Store, accountId: string, tokenKeys: TokenKeyRing) {
    const { config, log } = opts;
    const clock = opts.clock ?? systemClock;
    this.config = config;
    this.store = store;
    this.accountId = accountId;
    this.#log = log;
    this.metrics = new Metrics();
    const worker = opts.worker;
    // A worker among several shares the audit file with its siblings; the primary rotates it.
    const shared = worker !== undefined && worker.count > 1 ? { full: worker.auditFull } : undefined;
    this.#audit = new AuditLog(layout(config.dataDir).auditDir, { ...config.audit, report: auditReportLogger(log), shared });
    this.#lastUsed = new LastUsedTracker(store, log, config.lastUsedFlushMs);
    this.#tokenKeys = tokenKeys;
    this.#upstreams = new Map(config.services.map((svc) => [svc.name, new Upstream(svc)]));
    this.#reloadConfig = opts.reloadConfig;
    const ttl = cacheLifetime(() => this.#changes);
    const credentials = new CredentialCache(store, { clock, tokenKeys: () => tokenKeys.all(), ttlMs: ttl });
    const authorizer = new Authorizer(store, clock, ttl);
    this.#credentials = credentials;
    this.#authorizer = authorizer;
    // Changes made on other nodes reach this one through the store's feed (PostgreSQL). The feed
    // says `all` whenever it comes up or goes down: the moment to tell the operator.
    this.#changes = store.watchChanges?.((change) => {
      this.applyChange(change);
      if (change.kind !== 'all') return;
      if (this.#changes?.live === true) log.info('change feed live: caches follow changes from every node');
      else log.warn('change feed lost: caches keep entries at most 1 s until it is back');
    });
    const pipeline = new Pipeline({
      store,
      credentials,
      authorizer,
      announce: worker?.announce,
      tokenKey: () => tokenKeys.current(),
      tokenKeys: () => tokenKeys.all(),
      upstreams: this.#upstreams,
      identity: IdentitySigner.fromFile(join(config.dataDir, 'identity.key')),
      jwks: ((source) => (issuer: string, fresh?: boolean) => source.get(issuer, fresh))(new JwksSource(config.oidc.jwks, clock)),
      lastUsed: this.#lastUsed,
      audit: this.#audit,
      metrics: this.metrics,
      log,
      clock,
      region: config.region,
      maxBodyBytes: config.limits.maxBodyBytes,
      maxHeaderCount: config.limits.maxHeaderCount,
      uniformAuthFailures: config.security.uniformAuthFailures,
      throttle: new AuthThrottle(config.limits.authFailures, clock),
      ready: async () => {
        if (this.#stopping) return false;
        await store.ping();
        return true;
      },
    });
    const limits = config.limits;
    this.#server = createServer(
      {
        ...this.#tlsOptions(),
        maxHeaderSize: limits.maxHeaderBytes,
        handshakeTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        // Node checks the two timeouts above only this often (30 s unless told).
        connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(limits.headersTimeoutMs / 2))),
        // A missing Host gets our own error (SigV4 needs it signed), not Node's empty 400.
        requireHostHeader: false,
      },
      pipeline.handle,
    );
    this.#server.headersTimeout = limits.headersTimeoutMs;
    // One more than allowed, so the pipeline can tell "at the limit" from "over it".
    this.#server.maxHeadersCount = limits.maxHeaderCount + 1;
    this.#server.maxConnections = limits.maxConnections;
    limitPerSource(this.#server, limits.maxConnectionsPerSource);
    this.#server.on('tlsClientError', (e: Error & { code?: string }) => log.debug('tls handshake failed', { code: e.code, error: e.message }));
    // node:https hands TLS failures (a handshake timeout among them) to 'clientError' too. An
    // HTTP answer written to a socket whose handshake never finished is never sent, and
    // socket.end() then waits for it for ever: a connection that never says hello would keep
    // its slot of maxConnections. So those are destroyed; only secured sockets get an answer.
    const secured = new WeakSet<object>();
    this.#server.on('secureConnection', (socket) => secured.add(socket));
    this.#server.on('clientError', (e: Error & { code?: string }, socket) => {
      log.debug('malformed request', { code: e.code });
      // A client that cut its request off mid-body is gone: the pipeline audits that request
      // (IncompleteBody), and the parser's complaint about the cut is not a second one.
      const cutOff = e.code === 'HPE_INVALID_EOF_STATE' || e.code === 'ECONNRESET';
      if (!socket.writable || !secured.has(socket) || (cutOff && pipeline.hasRequest(socket))) {
        socket.destroy();
        return;
      }
      // What cannot be parsed as HTTP gets a query-protocol error, the shape STS and IAM clients read.
      const err = e.code === 'HPE_HEADER_OVERFLOW'
        ? new PortcullisError('RequestHeaderSectionTooLarge', `Your request header section exceeds the maximum allowed size of ${limits.maxHeaderBytes} bytes.`)
        : e.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? new PortcullisError('RequestTimeout', 'Your socket connection to the server was not read from or written to within the timeout period.')
          : new PortcullisError('InvalidParameterValue', 'The request is not well-formed HTTP.');
      // A request already under way (its body too slow, its framing broken) is answered and audited as itself.
      if (pipeline.breakOff(socket, err)) return;
      const requestId = newRequestId();
      const out = renderError(err, { protocol: 'query', requestId });
      const head = Object.entries({ ...out.headers, connection: 'close', 'content-length': String(Buffer.byteLength(out.body)) })
        .map(([k, v]) => `${k}: ${v}\r\n`).join('');
      socket.end(`HTTP/1.1 ${out.status} ${STATUS_CODES[out.status]}\r\n${head}\r\n${out.body}`);
      pipeline.auditRejected(socket, requestId, out.status, err.code);
    });
  }

  static async start(opts: StartOptions): Promise<Gateway> {
    const { store, accountId, sealer } = await bootstrap(opts.config, opts.env, opts.log);
    const tokenKeys = new TokenKeyRing(store, sealer, opts.clock ?? systemClock, opts.log);
    await tokenKeys.start();
    const gateway = new Gateway(opts, store, accountId, tokenKeys);
    await new Promise<void>((resolve, reject) => {
      gateway.#server.once('error', reject);
      gateway.#server.listen(opts.config.listen.port, opts.config.listen.host, () => {
        gateway.#server.off('error', reject);
        resolve();
      });
    });
    gateway.#watchCertificates();
    return gateway;
  }

  /** The primary rotated the shared audit file: write to the new one. */
  auditRotated(): void {
    this.#audit.reopen();
  }

  /** A change made elsewhere (another node, a sibling worker): drop what it makes stale. */
  applyChange(change: StoreChange): void {
    applyChange(change, this.#credentials, this.#authorizer);
  }

  get url(): string {
    const a = this.#server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `https://${host}:${a.port}`;
  }

  #certificateFiles(): { cert: string; key: string }[] {
    const configured = this.config.tls.certificates;
    return configured.length > 0 ? [...configured] : bootstrapCertificateFiles(this.config.dataDir);
  }

  /** The full TLS option set from the files as they are now. */
  #tlsOptions() {
    const identities: Identity[] = this.#certificateFiles().map((f) => ({ certPem: readFileSync(f.cert, 'utf8'), keyPem: readFileSync(f.key, 'utf8') }));
    const ca = this.config.tls.clientCaFile;
    return secureContextOptions({ minTls: this.config.tls.minVersion, identities, clientCaPem: ca === undefined ? undefined : readFileSync(ca, 'utf8') });
  }

  /** Re-reads certificates and keys; on failure the current ones stay in service. */
  reloadTls(): boolean {
    try {
      this.#server.setSecureContext(this.#tlsOptions());
      if (this.config.tls.certificates.length === 0) writeCertificateBundle(this.config.dataDir);
      this.#log.info('reloaded TLS certificates');
      return true;
    } catch (e) {
      this.#log.warn('could not reload TLS certificates; keeping the current ones', errorFields(e));
      return false;
    }
  }

  /**
   * SIGHUP: certificates, and the data-plane services from the config as it is now (upstreams,
   * routes, resource policies, limits). Other settings take a restart; a config that does not
   * load leaves the running one in place.
   */
  reload(): void {
    this.reloadTls();
    this.reloadServices();
  }

  reloadServices(): boolean {
    if (this.#reloadConfig === undefined) return false;
    let services: Config['services'];
    try {
      services = this.#reloadConfig().services;
    } catch (e) {
      this.#log.error('could not reload the config; keeping the running services', errorFields(e));
      return false;
    }
    const current = this.#upstreams;
    const next = new Map(services.map((svc) => [svc.name, new Upstream(svc, current.get(svc.name))]));
    for (const [name, old] of current) {
      const successor = next.get(name);
      if (successor === undefined || !old.sharesPool(successor)) old.retire();
    }
    // The pipeline reads this map per request: swapped in one synchronous step, a request sees
    // either the old services or the new ones, never a mix.
    current.clear();
    for (const [name, u] of next) current.set(name, u);
    this.#log.info('reloaded services', { services: [...next.keys()] });
    return true;
  }

  #watchCertificates(): void {
    const files = this.#certificateFiles().flatMap((f) => [f.cert, f.key]);
    const ca = this.config.tls.clientCaFile;
    if (ca !== undefined) files.push(ca);
    for (const dir of new Set(files.map((f) => dirname(f)))) {
      try {
        // Any change in the directory may be ours: editors and secret mounts rename and swap
        // symlinks (`..data`) rather than write in place, so the name alone is no guide.
        const w = watch(dir, () => this.#scheduleReload());
        w.unref();
        this.#watchers.push(w);
      } catch (e) {
        this.#log.warn('cannot watch certificate directory; reload with SIGHUP', { dir, ...errorFields(e) });
      }
    }
  }

  /** Files change in bursts (key, then certificate); reload once they settle. */
  #scheduleReload(): void {
    clearTimeout(this.#reloadTimer);
    this.#reloadTimer = setTimeout(() => this.reloadTls(), 250);
    this.#reloadTimer.unref();
  }

  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes the store. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const w of this.#watchers) w.close();
    clearTimeout(this.#reloadTimer);
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    // Keep-alive connections go the moment they fall idle, not when their timeout runs out.
    const sweep = setInterval(() => this.#server.closeIdleConnections(), 50);
    this.#server.closeIdleConnections();
    const force = setTimeout(() => this.#server.closeAllConnections(), graceMs);
    force.unref();
    await closed;
    clearInterval(sweep);
    clearTimeout(force);
    this.#tokenKeys.stop();
    await this.#changes?.close();
    for (const u of this.#upstreams.values()) u.close();
    await this.#lastUsed.stop();
    await this.#audit.close();
    await this.store.close();
  }
}
