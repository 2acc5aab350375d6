/** Wire names and limits of AWS Signature Version 4 and 4a, in one place. */

export const ALGORITHM_V4 = 'AWS4-HMAC-SHA256';
export const ALGORITHM_V4A = 'AWS4-ECDSA-P256-SHA256';
export type Algorithm = typeof ALGORITHM_V4 | typeof ALGORITHM_V4A;

export const KEY_PREFIX_V4 = 'AWS4';
export const KEY_PREFIX_V4A = 'AWS4A';
export const TERMINATOR = 'aws4_request';

export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
export const CHUNK_ALGORITHM = 'AWS4-HMAC-SHA256-PAYLOAD';
export const TRAILER_ALGORITHM = 'AWS4-HMAC-SHA256-TRAILER';

/** SHA-256 of the empty string, hex. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

// Header names, lower case as they appear in canonical requests.
export const H_AUTHORIZATION = 'authorization';
export const H_HOST = 'host';
export const H_DATE = 'x-amz-date';
export const H_HTTP_DATE = 'date';
export const H_CONTENT_SHA256 = 'x-amz-content-sha256';
export const H_SECURITY_TOKEN = 'x-amz-security-token';
export const H_REGION_SET = 'x-amz-region-set';
export const H_DECODED_LENGTH = 'x-amz-decoded-content-length';
export const H_TRAILER = 'x-amz-trailer';
export const H_TRAILER_SIGNATURE = 'x-amz-trailer-signature';

// Presigned URL query parameters.
export const Q_ALGORITHM = 'X-Amz-Algorithm';
export const Q_CREDENTIAL = 'X-Amz-Credential';
export const Q_DATE = 'X-Amz-Date';
export const Q_EXPIRES = 'X-Amz-Expires';
export const Q_SIGNED_HEADERS = 'X-Amz-SignedHeaders';
export const Q_SIGNATURE = 'X-Amz-Signature';
export const Q_SECURITY_TOKEN = 'X-Amz-Security-Token';
export const Q_REGION_SET = 'X-Amz-Region-Set';
export const Q_CONTENT_SHA256 = 'X-Amz-Content-Sha256';

/** Presigned URLs live at most seven days (S3 and STS both cap X-Amz-Expires here). */
export const MAX_PRESIGNED_EXPIRES_S = 604_800;
/** Allowed distance between the request's date and our clock. */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;
