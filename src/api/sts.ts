/**
 * STS (query protocol, version 2011-06-15): the actions that need no temporary credentials yet.
 * https://docs.aws.amazon.com/STS/latest/APIReference/
 */
import { PortcullisError } from '../core/errors.js';
import { accountOfKeyId } from '../core/ids.js';
import type { Principal } from '../core/principal.js';
import type { Store } from '../store/types.js';
import type { SessionClaims } from '../sts/token.js';
import { required, type XmlNode } from './query.js';

export const STS_XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';
export const STS_VERSION = '2011-06-15';

export interface ApiContext {
  readonly principal: Principal;
  readonly store: Store;
  readonly now: () => number;
  /** An access key changed (status, deleted): forget what memory holds of it. */
  keyChanged(accessKeyId: string): void;
  /** Policies or attachments changed: forget compiled permission sets. */
  policiesChanged(): void;
  /** Seals a session token for temporary credentials. */
  sealToken(claims: SessionClaims): string;
  /** Opens an encoded authorization message (DecodeAuthorizationMessage); undefined if not ours. */
  openMessage(encoded: string): string | undefined;
  /** Authorizes one more action in this request's context; AccessDenied when refused. */
  authorize(action: string, resource: string, resourcePolicy?: { readonly text: string; readonly account: string; readonly kind: 'trust' | 'resource' }): Promise<void>;
}

type Params = ReadonlyMap<string, string>;

/** One action of a query-protocol service. */
export interface QueryAction {
  /** The resource ARN the action is authorized against (`*` when it has none). */
  resource(params: Params, ctx: ApiContext): Promise<string>;
  /** False for the few actions AWS answers without any permission (GetCallerIdentity). */
  readonly authorize?: false;
  /** The resource's own policy, when it has one (a role's trust policy for sts:AssumeRole). */
  resourcePolicy?(params: Params, ctx: ApiContext): Promise<{ readonly text: string; readonly account: string; readonly kind: 'trust' | 'resource' } | undefined>;
  /** Condition keys this action adds to the request context (iam:PolicyARN, aws:RequestTag/…). */
  context?(params: Params): ReadonlyArray<readonly [string, string | readonly string[]]>;
  run(params: Params, ctx: ApiContext): Promise<XmlNode | undefined>;
}

const anyResource = async (): Promise<string> => '*';

export const STS_ACTIONS: Readonly<Record<string, QueryAction>> = {
  // "No permissions are required to perform this operation", even an explicit deny does not
  // stop it: https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
  GetCallerIdentity: {
    resource: anyResource,
    authorize: false,
    async run(_params, { principal }) {
      return { UserId: principal.userId, Account: principal.accountId, Arn: principal.arn };
    },
  },

  GetAccessKeyInfo: {
    resource: anyResource,
    async run(params, { store }) {
      const id = required(params, 'AccessKeyId');
      if (!/^[\w]{16,128}$/.test(id)) {
        throw new PortcullisError('ValidationError', "1 validation error detected: Value at 'accessKeyId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w]*");
      }
      // The account is in the key ID itself (as in AWS), for long-term and temporary keys alike;
      // keys stored before IDs carried it are looked up.
      const account = (await store.getAccessKey(id))?.accountId ?? accountOfKeyId(id);
      if (account === undefined) throw new PortcullisError('InvalidParameterValue', `The access key ID \`${id}\` is not one this endpoint issued.`);
      return { Account: account };
    },
  },
};
