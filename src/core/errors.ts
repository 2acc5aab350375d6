/**
 * The one error table of Portcullis.
 *
 * Every failure is a `PortcullisError` whose `code` is a member of the `ErrorCode` union below.
 * `ERRORS` maps each code, per wire protocol, to the HTTP status and the AWS error code that an
 * AWS endpoint of that protocol would answer with, so that AWS SDKs raise the same error class
 * they would raise against AWS. `renderError` turns an error into the body shape of the protocol.
 *
 * Protocols:
 * - `query`: the AWS query protocol (STS, IAM): `<ErrorResponse><Error>…</Error><RequestId/></ErrorResponse>`
 * - `json`: awsJson 1.0/1.1: `{"__type": "...", "message": "..."}` with `x-amzn-RequestId`
 * - `restXml`: REST XML as S3 sends it: `<Error><Code/><Message/><RequestId/></Error>`
 */

export type Protocol = 'query' | 'json' | 'restXml';
export const PROTOCOLS: readonly Protocol[] = ['query', 'json', 'restXml'];

/** How one protocol spells one error. `fault` is the query protocol's `<Type>`. */
export interface WireError {
  readonly status: number;
  readonly code: string;
  readonly fault: 'Sender' | 'Receiver';
}

function same(status: number, code: string, fault: WireError['fault'] = status >= 500 ? 'Receiver' : 'Sender') {
  return { status, code, fault } as const;
}

/**
 * Code -> protocol -> wire spelling. Sources: the "Common Errors" pages of the STS, IAM and
 * DynamoDB API references and the S3 error-code list ("Error responses" in the S3 API reference).
 * Clock-skew and scope problems answer SignatureDoesNotMatch on query services and
 * InvalidSignatureException on JSON services, which is what those services send.
 */
export const ERRORS = {
  // --- authentication (SigV4) ---
  MissingAuthenticationToken: {
    query: same(403, 'MissingAuthenticationToken'),
    json: same(403, 'MissingAuthenticationTokenException'),
    restXml: same(403, 'AccessDenied'),
  },
  IncompleteSignature: {
    query: same(400, 'IncompleteSignature'),
    json: same(400, 'IncompleteSignatureException'),
    restXml: same(400, 'AuthorizationHeaderMalformed'),
  },
  AuthorizationHeaderMalformed: {
    query: same(403, 'SignatureDoesNotMatch'),
    json: same(400, 'InvalidSignatureException'),
    restXml: same(400, 'AuthorizationHeaderMalformed'),
  },
  AuthorizationQueryParametersError: {
    query: same(400, 'IncompleteSignature'),
    json: same(400, 'IncompleteSignatureException'),
    restXml: same(400, 'AuthorizationQueryParametersError'),
  },
  SignatureDoesNotMatch: {
    query: same(403, 'SignatureDoesNotMatch'),
    json: same(400, 'InvalidSignatureException'),
    restXml: same(403, 'SignatureDoesNotMatch'),
  },
  InvalidClientTokenId: {
    query: same(403, 'InvalidClientTokenId'),
    json: same(400, 'UnrecognizedClientException'),
    restXml: same(403, 'InvalidAccessKeyId'),
  },
  InvalidToken: {
    query: same(403, 'InvalidClientTokenId'),
    json: same(400, 'UnrecognizedClientException'),
    restXml: same(400, 'InvalidToken'),
  },
  ExpiredToken: {
    query: same(400, 'ExpiredToken'),
    json: same(400, 'ExpiredTokenException'),
    restXml: same(400, 'ExpiredToken'),
  },
  RequestTimeTooSkewed: {
    query: same(403, 'SignatureDoesNotMatch'),
    json: same(400, 'InvalidSignatureException'),
    restXml: same(403, 'RequestTimeTooSkewed'),
  },
  RequestExpired: {
    query: same(403, 'SignatureDoesNotMatch'),
    json: same(400, 'InvalidSignatureException'),
    restXml: same(403, 'AccessDenied'),
  },
  XAmzContentSHA256Mismatch: {
    query: same(400, 'XAmzContentSHA256Mismatch'),
    json: same(400, 'XAmzContentSHA256Mismatch'),
    restXml: same(400, 'XAmzContentSHA256Mismatch'),
  },
  BadDigest: {
    query: same(400, 'BadDigest'),
    json: same(400, 'BadDigest'),
    restXml: same(400, 'BadDigest'),
  },
  IncompleteBody: {
    query: same(400, 'IncompleteBody'),
    json: same(400, 'IncompleteBody'),
    restXml: same(400, 'IncompleteBody'),
  },
  InvalidChunkedEncoding: {
    query: same(400, 'InvalidRequest'),
    json: same(400, 'InvalidRequest'),
    restXml: same(400, 'InvalidRequest'),
  },
  MalformedTrailer: {
    query: same(400, 'MalformedTrailerError'),
    json: same(400, 'MalformedTrailerError'),
    restXml: same(400, 'MalformedTrailerError'),
  },
  // --- authorization ---
  AccessDenied: {
    query: same(403, 'AccessDenied'),
    json: same(400, 'AccessDeniedException'),
    restXml: same(403, 'AccessDenied'),
  },
  // --- IAM ---
  MalformedPolicyDocument: {
    query: same(400, 'MalformedPolicyDocument'),
    json: same(400, 'MalformedPolicyDocumentException'),
    restXml: same(400, 'MalformedPolicy'),
  },
  NoSuchEntity: {
    query: same(404, 'NoSuchEntity'),
    json: same(400, 'ResourceNotFoundException'),
    restXml: same(404, 'NoSuchEntity'),
  },
  EntityAlreadyExists: {
    query: same(409, 'EntityAlreadyExists'),
    json: same(400, 'ResourceInUseException'),
    restXml: same(409, 'EntityAlreadyExists'),
  },
  LimitExceeded: {
    query: same(409, 'LimitExceeded'),
    json: same(400, 'LimitExceededException'),
    restXml: same(409, 'LimitExceeded'),
  },
  DeleteConflict: {
    query: same(409, 'DeleteConflict'),
    json: same(400, 'ResourceInUseException'),
    restXml: same(409, 'DeleteConflict'),
  },
  InvalidInput: {
    query: same(400, 'InvalidInput'),
    json: same(400, 'ValidationException'),
    restXml: same(400, 'InvalidArgument'),
  },
  // --- STS ---
  PackedPolicyTooLarge: {
    query: same(400, 'PackedPolicyTooLarge'),
    json: same(400, 'PackedPolicyTooLargeException'),
    restXml: same(400, 'PackedPolicyTooLarge'),
  },
  InvalidIdentityToken: {
    query: same(400, 'InvalidIdentityToken'),
    json: same(400, 'InvalidIdentityTokenException'),
    restXml: same(400, 'InvalidIdentityToken'),
  },
  ExpiredWebIdentityToken: {
    query: same(400, 'ExpiredTokenException'),
    json: same(400, 'ExpiredTokenException'),
    restXml: same(400, 'ExpiredToken'),
  },
  InvalidAuthorizationMessage: {
    query: same(400, 'InvalidAuthorizationMessageException'),
    json: same(400, 'InvalidAuthorizationMessageException'),
    restXml: same(400, 'InvalidAuthorizationMessageException'),
  },
  // --- request shape ---
  InvalidAction: {
    query: same(400, 'InvalidAction'),
    json: same(400, 'UnknownOperationException'),
    restXml: same(501, 'NotImplemented'),
  },
  MissingAction: {
    query: same(400, 'MissingAction'),
    json: same(400, 'UnknownOperationException'),
    restXml: same(400, 'InvalidRequest'),
  },
  MissingParameter: {
    query: same(400, 'MissingParameter'),
    json: same(400, 'ValidationException'),
    restXml: same(400, 'InvalidArgument'),
  },
  InvalidParameterValue: {
    query: same(400, 'InvalidParameterValue'),
    json: same(400, 'ValidationException'),
    restXml: same(400, 'InvalidArgument'),
  },
  ValidationError: {
    query: same(400, 'ValidationError'),
    json: same(400, 'ValidationException'),
    restXml: same(400, 'InvalidArgument'),
  },
  RequestEntityTooLarge: {
    query: same(413, 'RequestEntityTooLarge'),
    json: same(413, 'RequestEntityTooLarge'),
    restXml: same(400, 'EntityTooLarge'),
  },
  RequestHeaderSectionTooLarge: {
    query: same(400, 'RequestHeaderSectionTooLarge'),
    json: same(400, 'RequestHeaderSectionTooLarge'),
    restXml: same(400, 'RequestHeaderSectionTooLarge'),
  },
  RequestTimeout: {
    query: same(408, 'RequestTimeout'),
    json: same(408, 'RequestTimeoutException'),
    restXml: same(400, 'RequestTimeout'),
  },
  // --- the data plane ---
  BadGateway: {
    query: same(502, 'BadGateway'),
    json: same(502, 'BadGatewayException'),
    restXml: same(502, 'BadGateway'),
  },
  GatewayTimeout: {
    query: same(504, 'GatewayTimeout'),
    json: same(504, 'GatewayTimeoutException'),
    restXml: same(504, 'GatewayTimeout'),
  },
  // --- our side ---
  Throttling: {
    query: same(400, 'Throttling'),
    json: same(400, 'ThrottlingException'),
    restXml: same(503, 'SlowDown', 'Receiver'),
  },
  ServiceUnavailable: {
    query: same(503, 'ServiceUnavailable'),
    json: same(503, 'ServiceUnavailableException'),
    restXml: same(503, 'ServiceUnavailable'),
  },
  InternalFailure: {
    query: same(500, 'InternalFailure'),
    json: same(500, 'InternalFailure'),
    restXml: same(500, 'InternalError'),
  },
} as const satisfies Record<string, Record<Protocol, WireError>>;

export type ErrorCode = keyof typeof ERRORS;
export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

/**
 * The base of every error Portcullis raises on purpose. `message` is safe to send to the client:
 * it never holds a secret, a signature or a session token (callers keep that invariant).
 */
export class PortcullisError extends Error {
  override readonly name = 'PortcullisError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }

  wire(protocol: Protocol): WireError {
    return ERRORS[this.code][protocol];
  }
}

export function isPortcullisError(e: unknown): e is PortcullisError {
  return e instanceof PortcullisError;
}

/**
 * A piece of client input, fit to quote in an error message: any run of 20 or more characters
 * that could be a key, a signature or a token (hex, base64, base64url with its `-` and `_`, and
 * the dots of our session tokens) becomes `…`, then at most `max` characters are kept. Clients do put secrets where names belong
 * (swapped access key and secret, a token in a date header), and an error body is read by
 * proxies and logged by clients.
 */
export function quoted(s: string, max: number): string {
  return s.replace(SECRET_LIKE, '…').slice(0, max);
}
const SECRET_LIKE = /[A-Za-z0-9+/=_.-]{20,}/g;

/** Any thrown value as a PortcullisError; unknown failures become InternalFailure with no detail. */
export function toPortcullisError(e: unknown): PortcullisError {
  return isPortcullisError(e) ? e : new PortcullisError('InternalFailure', 'We encountered an internal error. Please try again.');
}

export interface RenderOptions {
  readonly protocol: Protocol;
  readonly requestId: string;
  /** Query protocol: the service's XML namespace, e.g. `https://sts.amazonaws.com/doc/2011-06-15/`. */
  readonly xmlns?: string;
  /** awsJson: `1.0` or `1.1` (content type `application/x-amz-json-1.x`). */
  readonly jsonVersion?: '1.0' | '1.1';
}

export interface RenderedError {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * Escapes text for XML content and attributes. Characters XML 1.0 cannot carry at all (most
 * C0 controls, lone surrogates, U+FFFE/U+FFFF) become U+FFFD, so an echoed client value can
 * never make an error body unparseable.
 */
export function escapeXml(s: string): string {
  // Nearly every value (ids, ARNs, dates) needs nothing; one plain test skips both replaces.
  if (!NEEDS_ESCAPE.test(s)) return s;
  return s.replace(/[<>&'"]/g, (c) => XML_ENTITIES[c]!).replace(NOT_XML_CHAR, '\uFFFD');
}
/** Anything either replace below could change (any surrogate, paired or not, to be safe). */
const NEEDS_ESCAPE = /[<>&'"\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF\uFFFE\uFFFF]/;
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
const XML_ENTITIES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' };

/** The response for an error, in the shape the protocol's AWS SDKs parse. */
export function renderError(err: PortcullisError, opts: RenderOptions): RenderedError {
  const w = err.wire(opts.protocol);
  const message = escapeXml(err.message);
  const id = escapeXml(opts.requestId);
  switch (opts.protocol) {
    case 'query': {
      const ns = opts.xmlns ? ` xmlns="${escapeXml(opts.xmlns)}"` : '';
      return {
        status: w.status,
        headers: { 'content-type': 'text/xml', 'x-amzn-requestid': opts.requestId },
        body:
          `<ErrorResponse${ns}><Error><Type>${w.fault}</Type><Code>${w.code}</Code>` +
          `<Message>${message}</Message></Error><RequestId>${id}</RequestId></ErrorResponse>`,
      };
    }
    case 'json':
      return {
        status: w.status,
        headers: {
          'content-type': `application/x-amz-json-${opts.jsonVersion ?? '1.0'}`,
          'x-amzn-requestid': opts.requestId,
          'x-amzn-errortype': w.code,
        },
        body: JSON.stringify({ __type: w.code, message: err.message }),
      };
    case 'restXml':
      return {
        status: w.status,
        headers: { 'content-type': 'application/xml', 'x-amz-request-id': opts.requestId },
        body:
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${w.code}</Code><Message>${message}</Message>` +
          `<RequestId>${id}</RequestId></Error>`,
      };
  }
}
