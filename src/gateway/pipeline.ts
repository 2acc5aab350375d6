/**
 * The request pipeline: limits -> authentication (SigV4 on the wire bytes) -> route by the
 * service of the credential scope -> handler -> response, with one audit event, metrics and
 * key last-use for every request, whatever its outcome.
 */
import { randomBytes } from 'node:crypto';
import { sha256Hex } from '../sigv4/canonicalRequest.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { IAM_ACTIONS, IAM_VERSION, IAM_XMLNS } from '../api/iam.js';
import { AUTHORIZATION_DETAILS_ACTIONS } from '../api/iamAuthorizationDetails.js';
import { IAM_GROUP_ROLE_ACTIONS } from '../api/iamGroupsRoles.js';
import { SIMULATE_ACTIONS } from '../api/simulate.js';
import { STS_CREDENTIAL_ACTIONS } from '../api/stsCredentials.js';
import { OIDC_PROVIDER_ACTIONS, UNSIGNED_STS_ACTIONS } from '../api/webIdentity.js';
import type { Jwks } from '../sts/webIdentity.js';
import type { IdentitySigner } from './identity.js';
import type { Upstream } from './proxy.js';
import { expand, parseJsonBody, requestTags, type RequestValues, type Route } from './routes.js';
import { STS_ACTIONS, STS_VERSION, STS_XMLNS, type ApiContext, type QueryAction } from '../api/sts.js';
import { queryParams, queryResponse, requestParams } from '../api/query.js';
import { isoMillis, type Clock } from '../core/clock.js';
import { isPortcullisError, PortcullisError, quoted, renderError, toPortcullisError, type Protocol } from '../core/errors.js';
import { newRequestId } from '../core/ids.js';
import type { Principal } from '../core/principal.js';
import type { ParsedAuth } from '../sigv4/parse.js';
import { requestFromWire, type HttpRequest } from '../sigv4/request.js';
import { decoderStream } from '../sigv4/stream.js';
import { percentDecode } from '../sigv4/uriEncode.js';
import type { Readable } from 'node:stream';
import { credentialError, type CredentialLookupResult, Verifier, type VerifiedRequest } from '../sigv4/verify.js';
import type { Store, StoreChange } from '../store/types.js';
import { storeUnavailable } from '../store/unavailable.js';
import type { AuditTrail } from './audit.js';
import { accessDenied, decodedAuthorizationMessage, type Authorizer } from './authorizer.js';
import type { CredentialCache } from './credentials.js';
import { requestContext } from './requestContext.js';
import type { RequestContext } from '../iam/context.js';
import { openMessage, sealMessage, sealToken, type TokenKey } from '../sts/token.js';
import type { LastUsedTracker } from './lastUsed.js';
import { errorFields, type Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { AuthThrottle } from './throttle.js';

interface QueryService {
  readonly protocol: 'query';
  readonly xmlns: string;
  readonly version: string;
  readonly actions: Readonly<Record<string, QueryAction>>;
}

/** The form of an access key ID (AKIA…, ASIA…): upper-case letters and digits. */
const ACCESS_KEY_ID = /^[A-Z0-9]{16,128}$/;

const OPERATIONS_PATHS: ReadonlySet<string> = new Set(['/_portcullis/health', '/_portcullis/health/ready', '/_portcullis/health/live', '/_portcullis/metrics', '/_portcullis/identity-key']);

const SERVICES: Readonly<Record<string, QueryService>> = {
  sts: { protocol: 'query', xmlns: STS_XMLNS, version: STS_VERSION, actions: { ...STS_ACTIONS, ...STS_CREDENTIAL_ACTIONS } },
  iam: { protocol: 'query', xmlns: IAM_XMLNS, version: IAM_VERSION, actions: { ...IAM_ACTIONS, ...IAM_GROUP_ROLE_ACTIONS, ...SIMULATE_ACTIONS, ...AUTHORIZATION_DETAILS_ACTIONS, ...OIDC_PROVIDER_ACTIONS } },
};

export interface PipelineDeps {
  readonly store: Store;
  readonly credentials: CredentialCache;
  readonly authorizer: Authorizer;
  /** Tells this process's siblings (other workers) what this request changed; the store's own feed tells other nodes. */
  readonly announce?: ((change: StoreChange) => void) | undefined;
  /** The key that seals the session tokens STS hands out now, and all that may open them. */
  readonly tokenKey: () => TokenKey;
  readonly tokenKeys: () => readonly TokenKey[];
  /** The upstream services behind the gateway, by service name. */
  readonly upstreams: ReadonlyMap<string, Upstream>;
  /** Signs the identity passed to upstreams. */
  readonly identity: IdentitySigner;
  /** OpenID Connect issuers' keys, for AssumeRoleWithWebIdentity. */
  readonly jwks: (issuer: string, fresh?: boolean) => Promise<Jwks | undefined>;
  readonly lastUsed: LastUsedTracker;
  readonly audit: AuditTrail;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly clock: Clock;
  readonly region: string;
  readonly maxBodyBytes: number;
  readonly maxHeaderCount: number;
  /** security.uniformAuthFailures: see #usable. */
  readonly uniformAuthFailures?: boolean;
  /** Repeated failed signatures per source and key (src/gateway/throttle.ts). */
  readonly throttle: AuthThrottle;
  /** Readiness: the store answers and we are not shutting down. */
  readonly ready: () => Promise<boolean>;
}

/** What we learn about a request as it goes, for the audit event and metrics. */
interface Trail {
  readonly requestId: string;
  readonly started: bigint;
  service: string | null;
  action: string | null;
  principal: Principal | null;
  accessKeyId: string | null;
  resource: string | null;
  /** The action is one we serve (unknown names stay out of metric labels). */
  known: boolean;
  /** Why policy evaluation denied the request, when it did. */
  denial: string | null;
}

class BodyTooLarge extends PortcullisError {
  constructor(max: number) {
    super('RequestEntityTooLarge', `Request body is larger than the limit of ${max} bytes.`);
  }
}

/** Reads a bounded body, hashing it as it streams. */
function readBody(req: IncomingMessage, max: number): Promise<{ body: Buffer; sha256: string }> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > max) return reject(new BodyTooLarge(max));
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        return reject(new BodyTooLarge(max));
      }
      parts.push(chunk);
    });
    // The body is kept whole anyway (bounded by `max`): one hash over it at the end costs the same
    // work as hashing piece by piece, without a Hash object per request.
    req.once('end', () => {
      const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      resolve({ body, sha256: sha256Hex(body) });
    });
    // The client went away (or broke the body off) before the end: nothing of ours failed.
    req.once('error', () => reject(new PortcullisError('IncompleteBody', 'The request body ended before it was complete.')));
  });
}

interface TlsInfo {
  readonly version: string | null;
  readonly suite: string | null;
}

const NO_BODY = Buffer.alloc(0);

/** The route of an awsJson or query operation, if the service configures one. */
function routeOf(upstream: Upstream, operation: string): { route: Route; params: Record<string, string> } | undefined {
  const route = upstream.routes.forOperation(operation);
  return route === undefined ? undefined : { route, params: {} };
}

/** A JSON body that a route reads; anything else is a client error, not a failure of ours. */
function jsonBody(body: Buffer): unknown {
  if (body.length === 0) return {};
  const parsed = parseJsonBody(body);
  if (parsed === undefined) throw new PortcullisError('ValidationError', 'The request body is not valid JSON (UTF-8, each member name once per object).');
  return parsed.value;
}

/**
 * Does the path have a `.` or `..` segment, sent as is or percent-encoded (once or twice), with `/`
 * or `\\` as the separator? Routes match the path as sent, and it goes to the upstream as sent, but
 * an upstream that normalizes it (WHATWG URL parsing, most web servers; some take `\\` for `/`)
 * would serve another resource than the one authorized: `/public/../admin/x` matches
 * `GET /public/{key+}`. SigV4 signs such a path normalized as well (`/admin/x`). So the data plane
 * takes no such path at all. https://www.rfc-editor.org/rfc/rfc3986#section-5.2.4
 */
export function hasDotSegment(path: string): boolean {
  if (!path.includes('.') && !/%(?:2e|25)/i.test(path)) return false;
  let p = path;
  for (let round = 0; round < 3; round++) {
    for (const segment of p.split(/[/\\]/)) if (segment === '.' || segment === '..') return true;
    const decoded = percentDecode(p).toString('latin1');
    if (decoded === p) return false;
    p = decoded;
  }
  return false;
}

/** The route's condition keys, and aws:RequestTag/… with aws:TagKeys when it names the request's tags. */
function addRequestKeys(context: RequestContext, route: Route, values: RequestValues): void {
  for (const [key, template] of route.conditions) {
    const v = expand(template, values);
    if (v !== undefined) context.set(key, v);
  }
  if (route.requestTags !== undefined) {
    const tags = requestTags(route, values.body);
    for (const [k, v] of tags) context.set(`aws:RequestTag/${k}`, v);
    context.set('aws:TagKeys', tags.map(([k]) => k));
  }
}

export class Pipeline {
  readonly #d: PipelineDeps;
  readonly #verifier: Verifier<Principal>;
  /** What each connection negotiated, asked of OpenSSL once per connection, not per request. */
  readonly #tls = new WeakMap<object, TlsInfo>();

  /**
   * What an unknown or inactive key is checked against when failures are uniform: a secret
   * nobody has (random, made at start) and a principal that is never used.
   */
  readonly #decoy: CredentialLookupResult<Principal> & { status: 'found' } = {
    status: 'found',
    secretAccessKey: randomBytes(30).toString('base64'),
    principal: { type: 'user', accountId: '000000000000', userName: 'none', userId: 'AIDANONE', path: '/', arn: 'arn:aws:iam::000000000000:user/none' },
  };

  constructor(deps: PipelineDeps) {
    this.#d = deps;
    this.#verifier = new Verifier<Principal>({ region: deps.region, clock: deps.clock, lookup: deps.credentials.lookup });
  }

  /** The latest request of each connection (its response says whether it is still in progress). */
  readonly #latest = new WeakMap<object, { readonly req: IncomingMessage; readonly res: ServerResponse; readonly trail: Trail }>();

  /** Is a request of this connection being handled (and will be answered and audited here)? */
  hasRequest(socket: object): boolean {
    return this.#latest.get(socket)?.res.writableFinished === false;
  }

  /**
   * The server cannot go on reading the request in progress on `socket` (its time ran out, its
   * framing broke): it is answered with `err` and audited as the request it is, with its own id,
   * and the connection closes. False when no request is in progress there, or it was answered
   * already (what broke is then what came after it on the connection).
   */
  breakOff(socket: object, err: PortcullisError): boolean {
    const r = this.#latest.get(socket);
    if (r === undefined || r.res.headersSent) return false;
    r.res.setHeader('connection', 'close');
    this.#fail(r.req, r.res, r.trail, err, 'query');
    return true;
  }

  /** The Node request listener. Never throws: every failure becomes a response. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const trail: Trail = { requestId: newRequestId(), started: process.hrtime.bigint(), service: null, action: null, principal: null, accessKeyId: null, resource: null, known: false, denial: null };
    this.#latest.set(req.socket, { req, res, trail });
    // Node stops reading header fields at maxHeadersCount and drops the rest without a word;
    // a request that reached the limit may have had more, so it is refused whole.
    if (req.rawHeaders.length > 2 * this.#d.maxHeaderCount) {
      res.setHeader('connection', 'close');
      return this.#fail(req, res, trail, new PortcullisError('RequestHeaderSectionTooLarge', `Your request has more than the ${this.#d.maxHeaderCount} header fields allowed.`), 'query');
    }
    // Checked after the count: Node drops the fields past its limit, Host among them.
    if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
      res.setHeader('connection', 'close');
      return this.#fail(req, res, trail, new PortcullisError('InvalidParameterValue', 'An HTTP/1.1 request must carry a Host header.'), 'query');
    }
    if (req.url?.startsWith('/_portcullis/')) {
      void this.#operations(req, res, trail);
      return;
    }
    this.#api(req, res, trail).catch((e: unknown) => this.#fail(req, res, trail, e, 'query'));
  };

  async #api(req: IncomingMessage, res: ServerResponse, trail: Trail): Promise<void> {
    const wire = requestFromWire(req.method ?? 'GET', req.url ?? '/', req.rawHeaders);
    let auth: ParsedAuth;
    try {
      auth = this.#verifier.parse(wire);
    } catch (e) {
      // AWS takes a few STS actions unsigned (SPEC §1.2); everything else needs a signature.
      if (e instanceof PortcullisError && e.code === 'MissingAuthenticationToken') return this.#unsigned(req, res, trail, wire, e);
      return this.#fail(req, res, trail, e, 'query');
    }
    // Only what has the form of an access key ID is recorded: a client that swapped its key ID
    // and secret would otherwise have its secret written to the audit file.
    trail.accessKeyId = ACCESS_KEY_ID.test(auth.accessKeyId) ? auth.accessKeyId : null;
    const upstream = this.#d.upstreams.get(auth.service);
    // Refused before the key is looked up or the signature computed: a guesser costs us little.
    const throttled = this.#d.throttle.check(req.socket.remoteAddress ?? '', auth.accessKeyId);
    if (throttled !== undefined) {
      if (upstream !== undefined || Object.hasOwn(SERVICES, auth.service)) trail.service = auth.service;
      return this.#throttled(req, res, trail, throttled, upstream);
    }
    if (upstream !== undefined) {
      trail.service = auth.service;
      return this.#proxy(req, res, trail, wire, auth, upstream);
    }
    // Own keys only: `constructor` or `__proto__` in a credential scope must not find Object.prototype.
    const service = Object.hasOwn(SERVICES, auth.service) ? SERVICES[auth.service] : undefined;
    // Recorded (and a metrics label) only when it is one we serve: made-up names must not grow the metrics.
    if (service !== undefined) trail.service = auth.service;
    if (service === undefined) {
      return this.#fail(req, res, trail, new PortcullisError('AuthorizationHeaderMalformed', `Credential should be scoped to correct service: one of '${[...Object.keys(SERVICES), ...this.#d.upstreams.keys()].join("', '")}', not '${quoted(auth.service, 64)}'.`), 'query');
    }
    try {
      this.#verifier.checkTimeAndScope(auth);
      const pending = this.#d.credentials.lookup(auth.accessKeyId, auth.sessionToken);
      // Most lookups are answered from memory; only a store round trip needs the await.
      // Unknown and inactive keys are refused before their body is read (unless failures are uniform).
      const found = this.#usable(pending instanceof Promise ? await pending : pending);
      const { body, sha256 } = await readBody(req, this.#d.maxBodyBytes);
      const verified = this.#verifier.checkSignature(wire, auth, found, { bodySha256: sha256 });
      trail.principal = this.#principal(verified);
      this.#d.lastUsed.record(verified.accessKeyId, { at: this.#d.clock(), service: verified.service, region: verified.region });
      const payload = this.#decodeBody(verified, wire, body);
      await this.#query(req, res, trail, service, wire, payload, verified);
    } catch (e) {
      this.#fail(req, res, trail, e, service.protocol, service.xmlns);
    }
  }

  /** An unsigned request: AssumeRoleWithWebIdentity, or the MissingAuthenticationToken it earned. */
  async #unsigned(req: IncomingMessage, res: ServerResponse, trail: Trail, wire: HttpRequest, missing: PortcullisError): Promise<void> {
    try {
      const body = await readBody(req, this.#d.maxBodyBytes).then((b) => b.body, () => {
        throw missing; // an unsigned request that is also too large is still, first, unsigned
      });
      const params = queryParams(body, wire.headers.first('content-type'), wire.query);
      const action = params.get('Action') ?? '';
      const handler = Object.hasOwn(UNSIGNED_STS_ACTIONS, action) ? UNSIGNED_STS_ACTIONS[action] : undefined;
      if (handler === undefined) throw missing;
      trail.service = 'sts';
      trail.action = `sts:${action}`;
      trail.known = true;
      trail.resource = params.get('RoleArn') ?? null;
      const result = await handler.run(params, { store: this.#d.store, now: this.#d.clock, sealToken: (c) => sealToken(c, this.#d.tokenKey()), jwks: this.#d.jwks });
      this.#send(req, res, trail, 200, { 'content-type': 'text/xml' }, queryResponse(action, STS_XMLNS, result, trail.requestId), 'allow', 'web-identity');
    } catch (e) {
      if (e !== missing && e instanceof PortcullisError) trail.denial = e.code;
      this.#fail(req, res, trail, e, 'query', STS_XMLNS);
    }
  }

  /**
   * The data plane: authenticate and authorize as for our own APIs, then forward to the upstream
   * with the verified identity, and stream its answer back. The service's routes say which action
   * and resources a request is, and which of its values are condition keys (src/gateway/routes.ts).
   */
  async #proxy(req: IncomingMessage, res: ServerResponse, trail: Trail, wire: HttpRequest, auth: ParsedAuth, upstream: Upstream): Promise<void> {
    const svc = upstream.service;
    const protocol: Protocol = svc.protocol === 'query' ? 'query' : svc.protocol === 'rest-xml' ? 'restXml' : 'json';
    const jsonVersion = svc.protocol === 'json1.0' ? '1.0' : '1.1';
    try {
      // INVARIANT: the path we route and authorize on is the path the upstream serves.
      // Only origin-form targets (`/…`): an absolute-form one (`http://host/…`) would go to the
      // upstream as a proxy request, an asterisk-form one (`*`) as nothing it serves.
      // https://www.rfc-editor.org/rfc/rfc9112#section-3.2
      if (!wire.path.startsWith('/')) {
        throw new PortcullisError('InvalidParameterValue', 'The request target must be a path that starts with `/`.');
      }
      if (hasDotSegment(wire.path)) {
        throw new PortcullisError('InvalidParameterValue', 'The request path has a `.` or `..` segment (plain or percent-encoded); send the path normalized.');
      }
      this.#verifier.checkTimeAndScope(auth);
      const pending = this.#d.credentials.lookup(auth.accessKeyId, auth.sessionToken);
      const found = this.#usable(pending instanceof Promise ? await pending : pending);
      const declaredLength = Number(req.headers['content-length'] ?? NaN);
      if (declaredLength > svc.maxBodyBytes) throw new PortcullisError('RequestEntityTooLarge', `Request body is larger than the limit of ${svc.maxBodyBytes} bytes.`);

      // The operation: `X-Amz-Target: Prefix.Operation` (awsJson), a route (REST), or `Action=`
      // in the body (query, known once the body is read).
      const rest = svc.protocol === 'rest-json' || svc.protocol === 'rest-xml';
      // awsJson and query requests name their operation in a header or a parameter, never in the
      // path: any other path would reach the upstream unauthorized, so only `/` is taken.
      if (!rest && wire.path !== '/') throw new PortcullisError('InvalidParameterValue', `The ${svc.name} service takes requests at / only.`);
      let operation: string | undefined;
      let matched = rest ? upstream.routes.forPath(wire.method, wire.path) : undefined;
      if (matched !== undefined) operation = matched.route.action;
      else if (svc.protocol === 'json1.0' || svc.protocol === 'json1.1') {
        const target = wire.headers.first('x-amz-target');
        operation = target?.slice(target.lastIndexOf('.') + 1);
        if (operation !== undefined) matched = routeOf(upstream, operation);
      }

      // A body whose hash is declared (or unsigned, or aws-chunked) is checked as it streams to the
      // upstream, unless the route reads it; otherwise the signature covers a hash we must
      // compute first, so it is read whole.
      const streaming = auth.declaredPayloadHash !== undefined && svc.protocol !== 'query' && matched?.route.readsBody !== true;
      let payload: Buffer | (() => Readable);
      let length: number | undefined;
      let verified: VerifiedRequest<Principal>;
      if (streaming) {
        const v = (verified = this.#verifier.checkSignature(wire, auth, found));
        length = v.payload.kind === 'chunked' ? v.payload.decodedLength : Number.isNaN(declaredLength) ? undefined : declaredLength;
        // Opened only once the request is authorized: a refused body is never read.
        payload = () => req.pipe(decoderStream(this.#verifier.bodyDecoder(v, wire)));
      } else {
        const { body, sha256 } = await readBody(req, svc.maxBodyBytes);
        verified = this.#verifier.checkSignature(wire, auth, found, { bodySha256: sha256 });
        payload = this.#decodeBody(verified, wire, body);
      }
      const principal = this.#principal(verified);
      trail.principal = principal;
      this.#d.lastUsed.record(verified.accessKeyId, { at: this.#d.clock(), service: verified.service, region: verified.region });

      // Said only to a caller whose signature verified: the routes are nobody else's business.
      if (rest && matched === undefined) throw new PortcullisError('InvalidAction', `No route of the ${svc.name} service takes ${wire.method} ${wire.path.slice(0, 128)}.`);
      // Only a query-protocol body is a form; other bodies are never read as parameters.
      const { params, repeated } = requestParams(svc.protocol === 'query' ? payload as Buffer : NO_BODY, wire.headers.first('content-type'), wire.query);
      if (svc.protocol === 'query') {
        if (repeated.has('Action')) throw new PortcullisError('InvalidParameterValue', 'The parameter `Action` appears more than once.');
        operation = params.get('Action');
        if (operation !== undefined) matched = routeOf(upstream, operation);
      }
      if (operation === undefined || !/^[A-Za-z0-9]{1,128}$/.test(operation)) throw new PortcullisError(operation === undefined ? 'MissingAction' : 'InvalidAction', 'The request names no valid operation.');
      const route = matched?.route;
      const action = `${svc.name}:${route?.action ?? operation}`;
      trail.action = action;

      const values: RequestValues = {
        region: verified.region,
        account: svc.account ?? principal.accountId,
        path: matched?.params ?? {},
        query: params,
        repeated,
        headers: wire.headers,
        body: route?.readsBody === true && protocol !== 'query' ? jsonBody(payload as Buffer) : undefined,
      };
      const resources = route === undefined ? ['*'] : expand(route.resource, values);
      if (resources === undefined) throw new PortcullisError('MissingParameter', `The request lacks a value that ${action} is authorized on (${route!.rule.resource}).`);
      trail.resource = resources.join(',');
      const context = requestContext({ principal, region: verified.region, sourceIp: req.socket.remoteAddress ?? '', tlsVersion: this.#tlsInfo(req.socket as TLSSocket).version, now: this.#d.clock() });
      if (route !== undefined) addRequestKeys(context, route, values);
      let reason = '';
      for (const resource of resources) {
        // Each resource's own tags are asked of the upstream only when a policy that decides could
        // read them, one resource at a time: the first refusal stops the lookups.
        const tags = upstream.service.resourceTags === undefined ? undefined : () => upstream.resourceTags(resource);
        const decision = await this.#d.authorizer.authorize(principal, action, resource, context, upstream.resourcePolicy(resource, values.account), tags);
        if (decision.decision !== 'allowed') {
          trail.denial = decision.reason;
          throw accessDenied(principal.arn, action, resource, decision);
        }
        reason ||= decision.reason;
      }
      // Signed as the upstream will see it: under the upstream URL's own path, if it has one.
      const identity = await this.#d.identity.headers(req.method ?? 'GET', upstream.pathOf(req.url ?? '/'), {
        'x-portcullis-principal': principal.arn,
        'x-portcullis-account': principal.accountId,
        'x-portcullis-user-id': principal.userId,
        'x-portcullis-action': action,
        'x-portcullis-request-id': trail.requestId,
        'x-portcullis-date': isoMillis(this.#d.clock()),
      });
      const status = await upstream.forward(req, res, typeof payload === 'function' ? payload() : payload, identity, trail.requestId, length);
      this.#record(req, trail, status, 'allow', reason);
    } catch (e) {
      if (res.headersSent) {
        this.#record(req, trail, res.statusCode, 'error', 'upstream-broke-off');
        return;
      }
      this.#fail(req, res, trail, e, protocol, STS_XMLNS, jsonVersion);
    }
  }

  /**
   * The credential a signature is checked against. With `security.uniformAuthFailures`, an
   * unknown or inactive key is checked against the decoy, so that it fails as a wrong signature
   * does, after the same work (body read and hashed, signature computed), instead of saying at
   * once that the key does not exist. Session-token failures keep their own errors: a token is
   * proof of having been given credentials.
   */
  #usable(found: CredentialLookupResult<Principal>): CredentialLookupResult<Principal> & { status: 'found' } {
    if (found.status === 'found') return found;
    if (this.#d.uniformAuthFailures === true && (found.status === 'unknown' || found.status === 'inactive')) return this.#decoy;
    throw credentialError(found.status);
  }

  /** A verified principal, unless it is the decoy (whose secret no client has, so never). */
  #principal(verified: VerifiedRequest<Principal>): Principal {
    if (verified.principal === this.#decoy.principal) throw new PortcullisError('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.');
    return verified.principal;
  }

  /** Throttling for repeated failed signatures, in the protocol of the service asked; audited as `throttled`. */
  #throttled(req: IncomingMessage, res: ServerResponse, trail: Trail, scope: string, upstream: Upstream | undefined): void {
    this.#d.metrics.authThrottled.inc(scope);
    trail.denial = 'throttled';
    const p = upstream?.service.protocol ?? 'query';
    const protocol: Protocol = p === 'query' ? 'query' : p === 'rest-xml' ? 'restXml' : 'json';
    const err = new PortcullisError('Throttling', 'Rate exceeded');
    const xmlns = trail.service !== null && Object.hasOwn(SERVICES, trail.service) ? SERVICES[trail.service]!.xmlns : STS_XMLNS;
    this.#fail(req, res, trail, err, protocol, xmlns, p === 'json1.0' ? '1.0' : '1.1');
  }

  /** aws-chunked bodies decode through the verifier's checks; others were hashed on the way in. */
  #decodeBody(verified: VerifiedRequest<Principal>, wire: HttpRequest, body: Buffer): Buffer {
    if (verified.payload.kind !== 'chunked') return body;
    const decoder = this.#verifier.bodyDecoder(verified, wire);
    return Buffer.concat([...decoder.push(body), ...decoder.end()]);
  }

  async #query(
    req: IncomingMessage,
    res: ServerResponse,
    trail: Trail,
    service: QueryService,
    wire: HttpRequest,
    body: Buffer,
    verified: VerifiedRequest<Principal>,
  ): Promise<void> {
    const params = queryParams(body, wire.headers.first('content-type'), wire.query);
    const action = params.get('Action');
    if (action === undefined || action === '') throw new PortcullisError('MissingAction', 'Missing Action');
    trail.action = `${verified.service}:${action}`;
    const handler = Object.hasOwn(service.actions, action) ? service.actions[action] : undefined;
    if (handler === undefined) throw new PortcullisError('InvalidAction', `Could not find operation ${action.slice(0, 64)} for version ${params.get('Version') ?? service.version}`);
    trail.known = true;
    const principal = verified.principal;
    // Built on first use: GetCallerIdentity and friends never need it.
    let built: RequestContext | undefined;
    const requestKeys = (): RequestContext => {
      if (built !== undefined) return built;
      built = requestContext({ principal, region: verified.region, sourceIp: req.socket.remoteAddress ?? '', tlsVersion: this.#tlsInfo(req.socket as TLSSocket).version, now: this.#d.clock() });
      for (const [k, v] of handler.context?.(params) ?? []) built.set(k, v);
      return built;
    };
    // One authorization: allowed, or AccessDenied carrying an encoded account of why.
    const authorize = async (action: string, resource: string, resourcePolicy?: Parameters<Authorizer['authorize']>[4]): Promise<string> => {
      const context = requestKeys();
      await this.#resourceTags(resource, principal.accountId, context);
      const decision = await this.#d.authorizer.authorize(principal, action, resource, context, resourcePolicy);
      if (decision.decision !== 'allowed') {
        trail.denial = decision.reason;
        const encoded = sealMessage(JSON.stringify(decodedAuthorizationMessage(principal, action, resource, context, decision)), this.#d.tokenKey());
        throw accessDenied(principal.arn, action, resource, decision, encoded);
      }
      return decision.reason;
    };
    const ctx: ApiContext = {
      principal,
      store: this.#d.store,
      now: this.#d.clock,
      keyChanged: (id) => {
        this.#d.credentials.invalidate(id);
        this.#d.announce?.({ kind: 'key', accessKeyId: id });
      },
      policiesChanged: () => {
        this.#d.authorizer.invalidate();
        this.#d.announce?.({ kind: 'policies' });
      },
      sealToken: (claims) => sealToken(claims, this.#d.tokenKey()),
      openMessage: (encoded) => openMessage(encoded, this.#d.tokenKeys()),
      authorize: async (action, resource, resourcePolicy) => void (await authorize(action, resource, resourcePolicy)),
    };
    let reason = 'no-authorization-needed';
    if (handler.authorize !== false) {
      const resource = await handler.resource(params, ctx);
      trail.resource = resource;
      reason = await authorize(trail.action, resource, await handler.resourcePolicy?.(params, ctx));
    }
    const result = await handler.run(params, ctx);
    this.#send(req, res, trail, 200, { 'content-type': 'text/xml' }, queryResponse(action, service.xmlns, result, trail.requestId), 'allow', reason);
  }

  #fail(req: IncomingMessage, res: ServerResponse, trail: Trail, e: unknown, protocol: Protocol, xmlns = STS_XMLNS, jsonVersion: '1.0' | '1.1' = '1.1'): void {
    let err: PortcullisError;
    if (!isPortcullisError(e) && storeUnavailable(e)) {
      err = new PortcullisError('ServiceUnavailable', 'The service is unavailable for now. Please try again.');
      this.#d.log.warn('the store is unavailable', { requestId: trail.requestId, ...errorFields(e) });
    } else {
      err = toPortcullisError(e);
      if (err !== e) this.#d.log.error('unexpected failure', { requestId: trail.requestId, ...errorFields(e) });
    }
    if (trail.principal === null) this.#d.metrics.authFailures.inc(err.code);
    if (trail.principal === null && trail.accessKeyId !== null) this.#d.throttle.failed(req.socket.remoteAddress ?? '', trail.accessKeyId, err.code);
    const out = renderError(err, { protocol, requestId: trail.requestId, xmlns, jsonVersion });
    if (err instanceof BodyTooLarge) res.setHeader('connection', 'close');
    const decision = trail.principal === null || trail.denial !== null ? 'deny' : 'error';
    this.#send(req, res, trail, out.status, out.headers, out.body, decision, trail.denial ?? err.code);
  }

  #send(
    req: IncomingMessage,
    res: ServerResponse,
    trail: Trail,
    status: number,
    headers: Record<string, string>,
    body: string,
    decision: 'allow' | 'deny' | 'error',
    reason: string,
  ): void {
    if (res.headersSent) return;
    // As a flat list: Node takes it as is, where an object costs it (and us, to build) about
    // three times as much per response. Each field once: the two set here win.
    const head: string[] = [];
    for (const name in headers) if (name !== 'x-amzn-requestid' && name !== 'content-length') head.push(name, headers[name]!);
    head.push('x-amzn-requestid', trail.requestId, 'content-length', String(Buffer.byteLength(body)));
    res.writeHead(status, head);
    res.end(body);
    this.#record(req, trail, status, decision, reason);
  }

  /** Metrics and the audit event of a request whose response has gone out. */
  #record(req: IncomingMessage, trail: Trail, status: number, decision: 'allow' | 'deny' | 'error', reason: string): void {
    const seconds = Number(process.hrtime.bigint() - trail.started) / 1e9;
    const { version, suite } = this.#tlsInfo(req.socket as TLSSocket);
    // Labels come from a fixed set: a client cannot grow the metrics with made-up names.
    const action = trail.action === null ? 'none' : trail.known ? trail.action : 'unknown';
    this.#d.metrics.requests.inc(trail.service ?? 'none', action, String(status));
    this.#d.metrics.tlsVersions.inc(version ?? 'none');
    this.#d.metrics.latency.observe(seconds);
    this.#d.audit.write({
      time: isoMillis(this.#d.clock()),
      requestId: trail.requestId,
      principal: trail.principal?.arn ?? null,
      accessKeyId: trail.accessKeyId,
      service: trail.service,
      action: trail.action,
      resource: trail.resource,
      decision,
      reason,
      sourceIp: req.socket.remoteAddress ?? '',
      tlsVersion: version,
      tlsSuite: suite,
      status,
      latencyMs: Math.round(seconds * 1e6) / 1e3,
    });
  }

  /**
   * iam:ResourceTag/… and aws:ResourceTag/… when the resource is one of the account's tagged
   * users or roles. https://docs.aws.amazon.com/IAM/latest/UserGuide/access_iam-tags.html
   */
  async #resourceTags(resource: string, accountId: string, context: RequestContext): Promise<void> {
    const m = /^arn:aws:iam::(\d{12}):(user|role)\/(?:.*\/)?([^/]+)$/.exec(resource);
    if (!m || m[1] !== accountId) return;
    const store = this.#d.store;
    const id = m[2] === 'user' ? (await store.getUser(accountId, m[3]!))?.userId : (await store.getRole(accountId, m[3]!))?.roleId;
    if (id === undefined) return;
    for (const t of await store.listTags(m[2] as 'user' | 'role', id)) {
      context.set(`iam:ResourceTag/${t.key}`, t.value).set(`aws:ResourceTag/${t.key}`, t.value);
    }
  }

  /** An audit event for a request refused before it could be parsed (the server's clientError). */
  auditRejected(stream: Duplex, requestId: string, status: number, code: string): void {
    const socket = stream as TLSSocket;
    const { version, suite } = this.#tlsInfo(socket);
    this.#d.metrics.requests.inc('none', 'none', String(status));
    this.#d.metrics.latency.observe(0);
    this.#d.audit.write({
      time: isoMillis(this.#d.clock()),
      requestId,
      principal: null,
      accessKeyId: null,
      service: null,
      action: null,
      resource: null,
      decision: 'deny',
      reason: code,
      sourceIp: socket.remoteAddress ?? '',
      tlsVersion: version,
      tlsSuite: suite,
      status,
      latencyMs: 0,
    });
  }

  #tlsInfo(socket: TLSSocket): TlsInfo {
    let info = this.#tls.get(socket);
    if (info === undefined) {
      info = {
        version: typeof socket.getProtocol === 'function' ? socket.getProtocol() : null,
        suite: typeof socket.getCipher === 'function' ? socket.getCipher()?.standardName ?? null : null,
      };
      this.#tls.set(socket, info);
    }
    return info;
  }

  /** The unauthenticated operations endpoints; audited and counted like every other request. */
  async #operations(req: IncomingMessage, res: ServerResponse, trail: Trail): Promise<void> {
    const path = (req.url ?? '').split('?')[0] ?? '';
    trail.action = `portcullis:${path.slice(0, 128)}`;
    trail.known = OPERATIONS_PATHS.has(path);
    const reply = (status: number, type: string, body: string, extra: Record<string, string> = {}) =>
      this.#send(req, res, trail, status, { 'content-type': type, 'cache-control': 'no-store', ...extra }, body, status < 400 ? 'allow' : 'deny', 'operations');
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'text/plain', 'method not allowed\n', { allow: 'GET, HEAD' });
    switch (path) {
      case '/_portcullis/health':
      case '/_portcullis/health/ready': {
        const ready = await this.#d.ready().catch(() => false);
        return reply(ready ? 200 : 503, 'application/json', JSON.stringify({ live: true, ready }) + '\n');
      }
      case '/_portcullis/health/live':
        return reply(200, 'application/json', JSON.stringify({ live: true }) + '\n');
      case '/_portcullis/metrics':
        return reply(200, 'text/plain; version=0.0.4', this.#d.metrics.render());
      case '/_portcullis/identity-key':
        return reply(200, 'application/x-pem-file', this.#d.identity.publicKeyPem);
      default:
        return reply(404, 'text/plain', 'not found\n');
    }
  }
}
