/**
 * STS (query protocol, version 2011-06-15): the actions that need no temporary credentials yet.
 * https://docs.aws.amazon.com/STS/latest/APIReference/
 */
import { PortcullisError } from '../core/errors.js';
import type { Principal } from '../core/principal.js';
import type { Store } from '../store/types.js';
import type { XmlNode } from './query.js';

export const STS_XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';
export const STS_VERSION = '2011-06-15';

export interface ApiContext {
  readonly principal: Principal;
  readonly store: Store;
}

export type QueryHandler = (params: ReadonlyMap<string, string>, ctx: ApiContext) => Promise<XmlNode | undefined>;

function required(params: ReadonlyMap<string, string>, name: string, member: string): string {
  const v = params.get(name);
  if (v === undefined || v === '') {
    throw new PortcullisError('ValidationError', `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`);
  }
  return v;
}

export const STS_ACTIONS: Readonly<Record<string, QueryHandler>> = {
  async GetCallerIdentity(_params, { principal }) {
    return { UserId: principal.userId, Account: principal.accountId, Arn: principal.arn };
  },

  async GetAccessKeyInfo(params, { store }) {
    const id = required(params, 'AccessKeyId', 'accessKeyId');
    if (!/^[\w]{16,128}$/.test(id)) {
      throw new PortcullisError('ValidationError', "1 validation error detected: Value at 'accessKeyId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w]*");
    }
    const key = await store.getAccessKey(id);
    if (key === undefined) throw new PortcullisError('InvalidParameterValue', `The access key ID \`${id}\` is not one this endpoint issued.`);
    return { Account: key.accountId };
  },
};
