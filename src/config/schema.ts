/** The configuration: one type, one defaults object, validated and deep-frozen at start. */
import type { MinTls } from '../tls/policy.js';

export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

/**
 * How one operation (awsJson, query) or one REST route is authorized. Templates hold
 * placeholders such as `{body.pipelineId}` (see src/gateway/routes.ts and docs/data-plane.md).
 */
export interface RouteRule {
  /** The operation name (`CreatePipeline`), or for REST `METHOD /path/{param}`. */
  readonly match: string;
  /** The IAM action without the service prefix; default: the operation name. REST: required. */
  readonly action?: string;
  /** The resource ARN template; default `*`. */
  readonly resource?: string;
  /** Condition keys filled from the request: key -> template. */
  readonly conditions?: Readonly<Record<string, string>>;
  /** `{body.x}`: the tags the request sets, for aws:RequestTag/… and aws:TagKeys. */
  readonly requestTags?: string;
}

/** A resource-based policy: it applies to every resource whose ARN matches `resource` (wildcards allowed). */
export interface ResourcePolicyRule {
  readonly resource: string;
  /** The policy document, as JSON text. */
  readonly policy: string;
}

/** An upstream service Portcullis protects (the data plane). */
export interface UpstreamService {
  /** The service name in the credential scope, e.g. `datapipeline`; also the IAM action prefix. */
  readonly name: string;
  /** Where requests go: `http://host:port` or `https://host:port`. */
  readonly upstream: string;
  /**
   * How a request names its action: awsJson (`X-Amz-Target`), query (`Action=`), or REST (a
   * route matching method and path; errors in JSON or XML).
   */
  readonly protocol: 'json1.0' | 'json1.1' | 'query' | 'rest-json' | 'rest-xml';
  readonly maxBodyBytes: number;
  readonly timeoutMs: number;
  /** The account that owns the service's resources (`{account}`); default: the caller's. */
  readonly account: string | undefined;
  readonly routes: readonly RouteRule[];
  readonly resourcePolicies: readonly ResourcePolicyRule[];
  /**
   * A path on the upstream that tells a resource's tags, for `aws:ResourceTag/…`: `GET
   * PATH?resource=ARN` answers 200 `{"tags": {"key": "value"}}`, `{}` for a resource it does not
   * know. Any other answer, a 404 too, fails the request closed (502).
   */
  readonly resourceTags?: string | undefined;
}

/** Repeated failed signatures (src/gateway/throttle.ts says how the three counters work). */
export interface AuthFailureLimits {
  /** Failures of one access key id from one source per window before that pair is blocked. */
  readonly perSourceKey: number;
  /** Failures from one source (any key) per window before the source is blocked. */
  readonly perSource: number;
  /** Failures for one key (any source) per window before the sources that failed for it are refused. */
  readonly perKey: number;
  readonly windowMs: number;
  /** How long a blocked pair or source stays blocked. */
  readonly blockMs: number;
  /** Entries each counter keeps at most (LRU). */
  readonly maxTracked: number;
}

export interface Config {
  readonly dataDir: string;
  readonly listen: { readonly host: string; readonly port: number };
  /** `sqlite:PATH` or `postgres://…`; default: SQLite file in the data dir. */
  readonly store: string;
  /** The PostgreSQL store's connection pool, per process. */
  readonly database: { readonly poolSize: number };
  /** Processes serving the listener (node:cluster); 0: one per CPU core. */
  readonly workers: number;
  /** The region this endpoint answers for. */
  readonly region: string;
  readonly tls: {
    readonly minVersion: MinTls;
    /** Operator certificates; empty means the data dir's self-signed pair from first start. */
    readonly certificates: readonly CertificateFiles[];
    /** When set, clients must present a certificate signed by this CA bundle (mTLS). */
    readonly clientCaFile: string | undefined;
  };
  readonly limits: {
    readonly maxHeaderBytes: number;
    readonly maxHeaderCount: number;
    readonly maxBodyBytes: number;
    readonly headersTimeoutMs: number;
    readonly requestTimeoutMs: number;
    readonly keepAliveTimeoutMs: number;
    readonly maxConnections: number;
    /** Connections from one source address (IPv6: one /64) at once, per process. */
    readonly maxConnectionsPerSource: number;
    /** Repeated failed signatures: when a source, a key, or the pair is throttled (src/gateway/throttle.ts). */
    readonly authFailures: AuthFailureLimits;
  };
  readonly audit: { readonly maxFileBytes: number; readonly keepFiles: number };
  readonly log: { readonly level: 'debug' | 'info' | 'warn' | 'error' };
  /** How often remembered key uses are written to the store. */
  readonly lastUsedFlushMs: number;
  /** OpenID Connect: issuer URL -> its JWKS (a file path, or an https URL), for AssumeRoleWithWebIdentity. */
  readonly oidc: { readonly jwks: Readonly<Record<string, string>> };
  /** Upstream services behind the gateway. */
  readonly services: readonly UpstreamService[];
  readonly security: {
    /**
     * Answer an unknown or inactive access key as a wrong signature, after the same work, so that
     * a caller cannot tell which keys exist. Off by default: AWS answers InvalidClientTokenId.
     */
    readonly uniformAuthFailures: boolean;
  };
}

export const DEFAULTS: Config = {
  dataDir: './.portcullis',
  listen: { host: '127.0.0.1', port: 8443 },
  store: '',
  database: { poolSize: 10 },
  workers: 0,
  region: 'us-east-1',
  tls: { minVersion: '1.2', certificates: [], clientCaFile: undefined },
  limits: {
    maxHeaderBytes: 16 * 1024,
    maxHeaderCount: 100,
    maxBodyBytes: 1024 * 1024,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    keepAliveTimeoutMs: 5_000,
    maxConnections: 1024,
    maxConnectionsPerSource: 256,
    authFailures: { perSourceKey: 10, perSource: 100, perKey: 100, windowMs: 60_000, blockMs: 60_000, maxTracked: 100_000 },
  },
  audit: { maxFileBytes: 16 * 1024 * 1024, keepFiles: 5 },
  log: { level: 'info' },
  lastUsedFlushMs: 5_000,
  oidc: { jwks: {} },
  services: [],
  security: { uniformAuthFailures: false },
};
