/** A small typed client for Portcullis's STS (query protocol, 2011-06-15). */
import type { Credentials } from './credentials.js';
import { QueryClient, type ClientConfig } from './query.js';
import { child, textAt, type XmlElement } from './xml.js';

export interface CallerIdentity {
  readonly userId: string;
  readonly account: string;
  readonly arn: string;
}

export interface AssumeRoleInput {
  readonly roleArn: string;
  readonly roleSessionName: string;
  readonly durationSeconds?: number;
  readonly externalId?: string;
  /** A session policy (JSON). */
  readonly policy?: string;
  readonly sourceIdentity?: string;
}

export interface TemporaryCredentials extends Credentials {
  readonly sessionToken: string;
  readonly expiration: number;
}

export interface AssumedRole {
  readonly credentials: TemporaryCredentials;
  readonly assumedRoleArn: string;
  readonly assumedRoleId: string;
  readonly packedPolicySize: number | undefined;
}

export interface WebIdentityInput {
  readonly roleArn: string;
  readonly roleSessionName: string;
  readonly webIdentityToken: string;
  readonly durationSeconds?: number;
  readonly policy?: string;
}

/** `<Credentials>` -> credentials; the secret never leaves this object except to sign. */
function credentialsOf(result: XmlElement, source: string): TemporaryCredentials {
  const c = child(result, 'Credentials');
  const accessKeyId = textAt(c, 'AccessKeyId');
  const secretAccessKey = textAt(c, 'SecretAccessKey');
  const sessionToken = textAt(c, 'SessionToken');
  const expiration = Date.parse(textAt(c, 'Expiration') ?? '');
  if (!accessKeyId || !secretAccessKey || !sessionToken || Number.isNaN(expiration)) throw new TypeError('the STS answer lacks its credentials');
  return { accessKeyId, secretAccessKey, sessionToken, expiration, source };
}

export class StsClient {
  readonly #q: QueryClient;

  constructor(config: ClientConfig = {}) {
    this.#q = new QueryClient('sts', '2011-06-15', config);
  }

  get endpoint(): URL {
    return this.#q.endpoint;
  }

  async getCallerIdentity(): Promise<CallerIdentity> {
    const r = await this.#q.call('GetCallerIdentity');
    return { userId: textAt(r, 'UserId') ?? '', account: textAt(r, 'Account') ?? '', arn: textAt(r, 'Arn') ?? '' };
  }

  async getAccessKeyInfo(accessKeyId: string): Promise<{ account: string }> {
    const r = await this.#q.call('GetAccessKeyInfo', { AccessKeyId: accessKeyId });
    return { account: textAt(r, 'Account') ?? '' };
  }

  async assumeRole(input: AssumeRoleInput): Promise<AssumedRole> {
    const r = await this.#q.call('AssumeRole', {
      RoleArn: input.roleArn,
      RoleSessionName: input.roleSessionName,
      DurationSeconds: input.durationSeconds,
      ExternalId: input.externalId,
      Policy: input.policy,
      SourceIdentity: input.sourceIdentity,
    });
    return this.#assumed(r, `assume-role:${input.roleArn}`);
  }

  /** Unsigned, as AWS takes it: the token is the proof. */
  async assumeRoleWithWebIdentity(input: WebIdentityInput): Promise<AssumedRole> {
    const r = await this.#q.call('AssumeRoleWithWebIdentity', {
      RoleArn: input.roleArn,
      RoleSessionName: input.roleSessionName,
      WebIdentityToken: input.webIdentityToken,
      DurationSeconds: input.durationSeconds,
      Policy: input.policy,
    }, { unsigned: true });
    return this.#assumed(r, `web-identity:${input.roleArn}`);
  }

  async getSessionToken(input: { durationSeconds?: number } = {}): Promise<TemporaryCredentials> {
    const r = await this.#q.call('GetSessionToken', { DurationSeconds: input.durationSeconds });
    return credentialsOf(r, 'session-token');
  }

  async decodeAuthorizationMessage(encodedMessage: string): Promise<string> {
    const r = await this.#q.call('DecodeAuthorizationMessage', { EncodedMessage: encodedMessage });
    return textAt(r, 'DecodedMessage') ?? '';
  }

  #assumed(r: XmlElement, source: string): AssumedRole {
    const size = textAt(r, 'PackedPolicySize');
    return {
      credentials: credentialsOf(r, source),
      assumedRoleArn: textAt(r, 'AssumedRoleUser', 'Arn') ?? '',
      assumedRoleId: textAt(r, 'AssumedRoleUser', 'AssumedRoleId') ?? '',
      packedPolicySize: size === undefined ? undefined : Number(size),
    };
  }
}
