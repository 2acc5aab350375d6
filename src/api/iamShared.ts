/**
 * What the IAM actions share: IAM's parameter rules, quotas, pagination, error mapping, XML
 * shapes of its entities, and the lookups that turn a missing entity into NoSuchEntity.
 */
import { isoSeconds } from '../core/clock.js';
import { PortcullisError } from '../core/errors.js';
import { userArn } from '../core/principal.js';
import { parsePolicy, policySize, type PolicyKind } from '../iam/document.js';
import {
  AlreadyExistsError, DeleteConflictError, LimitExceededError, NoSuchEntityError, type AccessKey, type ManagedPolicy,
  type PolicyOwner, type PolicyVersion, type User,
} from '../store/types.js';
import type { ApiContext } from './sts.js';
import { param, required, type XmlNode } from './query.js';

export const IAM_XMLNS = 'https://iam.amazonaws.com/doc/2010-05-08/';
export const IAM_VERSION = '2010-05-08';

/** IAM quotas. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html */
export const IAM_LIMITS = {
  accessKeysPerUser: 2,
  versionsPerPolicy: 5,
  attachedPoliciesPerUser: 10,
  managedPolicySize: 6144,
  userInlinePoliciesSize: 2048,
} as const;

// ---------------------------------------------------------------- parameters

const NAME = /^[\w+=,.@-]+$/;

export function checkName(value: string, what: string, max: number): string {
  if (value.length > max || !NAME.test(value)) {
    throw new PortcullisError('ValidationError', `1 validation error detected: Value '${value.slice(0, 140)}' at '${what}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length at most ${max}`);
  }
  return value;
}

/** The caller's user name, for actions whose UserName defaults to the caller (users only). */
export function callerUserName(ctx: ApiContext): string {
  if (ctx.principal.type !== 'user') throw new PortcullisError('ValidationError', 'Must specify userName when calling with non-User credentials');
  return ctx.principal.userName;
}

/** The `UserName` parameter, required and valid. */
export function userNameParam(p: ReadonlyMap<string, string>): string {
  return checkName(required(p, 'UserName'), 'userName', 64);
}

export function checkPath(value: string | undefined): string {
  const path = value ?? '/';
  if (path.length > 512 || !/^\/([\x21-\x7e]*\/)?$/.test(path)) {
    throw new PortcullisError('ValidationError', `The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.`);
  }
  return path;
}

/** Validates a policy document and IAM's size quota for it. */
export function checkDocument(text: string, limit: number, quota: string, kind: PolicyKind = 'identity'): string {
  parsePolicy(text, kind);
  if (policySize(text) > limit) throw new PortcullisError('LimitExceeded', `Cannot exceed quota for ${quota}: ${limit}`);
  return text;
}

/** IAM lists: Marker is the position to go on from, MaxItems at most 1000 (default 100). */
export function paginate<T>(items: readonly T[], p: ReadonlyMap<string, string>): { page: T[]; more: XmlNode } {
  const max = param(p, 'MaxItems') === undefined ? 100 : Number(param(p, 'MaxItems'));
  if (!Number.isInteger(max) || max < 1 || max > 1000) throw new PortcullisError('ValidationError', 'MaxItems must be between 1 and 1000');
  const marker = param(p, 'Marker');
  const start = marker === undefined ? 0 : Number(Buffer.from(marker, 'base64url').toString('utf8'));
  if (!Number.isInteger(start) || start < 0 || start > items.length) throw new PortcullisError('InvalidInput', 'The Marker is not one this endpoint issued.');
  const page = items.slice(start, start + max);
  const truncated = start + max < items.length;
  return { page, more: truncated ? { IsTruncated: true, Marker: Buffer.from(String(start + max)).toString('base64url') } : { IsTruncated: false } };
}

// ---------------------------------------------------------------- store errors

/** Runs a store call, turning its typed errors into IAM's. */
export async function store<T>(call: Promise<T>, messages: { notFound?: string; exists?: string; conflict?: string; limit?: string } = {}): Promise<T> {
  try {
    return await call;
  } catch (e) {
    if (e instanceof NoSuchEntityError) throw new PortcullisError('NoSuchEntity', messages.notFound ?? e.message);
    if (e instanceof AlreadyExistsError) throw new PortcullisError('EntityAlreadyExists', messages.exists ?? e.message);
    if (e instanceof DeleteConflictError) throw new PortcullisError('DeleteConflict', messages.conflict ?? e.message);
    if (e instanceof LimitExceededError) throw new PortcullisError('LimitExceeded', messages.limit ?? e.message);
    throw e;
  }
}

// ---------------------------------------------------------------- shapes

export function userXml(u: User, boundary?: string): XmlNode {
  return {
    Path: u.path,
    UserName: u.userName,
    UserId: u.userId,
    Arn: userArn(u.accountId, u.path, u.userName),
    CreateDate: isoSeconds(u.createdAt),
    PermissionsBoundary: boundary === undefined ? undefined : { PermissionsBoundaryType: 'Policy', PermissionsBoundaryArn: boundary },
  };
}

export function keyXml(k: AccessKey): XmlNode {
  return { UserName: k.userName, AccessKeyId: k.accessKeyId, Status: k.status, CreateDate: isoSeconds(k.createdAt) };
}

export function policyXml(p: ManagedPolicy): XmlNode {
  return {
    PolicyName: p.policyName,
    DefaultVersionId: p.defaultVersionId,
    PolicyId: p.policyId,
    Path: p.path,
    Arn: p.arn,
    AttachmentCount: p.attachmentCount,
    PermissionsBoundaryUsageCount: 0,
    IsAttachable: true,
    Description: p.description || undefined,
    CreateDate: isoSeconds(p.createdAt),
    UpdateDate: isoSeconds(p.updatedAt),
  };
}

export function versionXml(v: PolicyVersion, withDocument: boolean): XmlNode {
  // IAM returns documents URL-encoded; the SDKs and the CLI decode them.
  return { Document: withDocument ? encodeURIComponent(v.document) : undefined, VersionId: v.versionId, IsDefaultVersion: v.isDefault, CreateDate: isoSeconds(v.createdAt) };
}

// ---------------------------------------------------------------- lookups

export async function user(ctx: ApiContext, userName: string): Promise<User> {
  const u = await ctx.store.getUser(ctx.principal.accountId, userName);
  if (u === undefined) throw new PortcullisError('NoSuchEntity', `The user with name ${userName} cannot be found.`);
  return u;
}

/** The user a request is about: `UserName`, or the caller when omitted (as IAM does). */
export async function targetUser(p: ReadonlyMap<string, string>, ctx: ApiContext): Promise<User> {
  const name = param(p, 'UserName');
  return user(ctx, name === undefined ? callerUserName(ctx) : checkName(name, 'userName', 64));
}

export async function policy(ctx: ApiContext, arn: string): Promise<ManagedPolicy> {
  const found = await ctx.store.getManagedPolicy(arn);
  // Another account's policies are as good as absent.
  if (found === undefined || (found.accountId !== 'aws' && found.accountId !== ctx.principal.accountId)) {
    throw new PortcullisError('NoSuchEntity', `Policy ${arn} does not exist or is not attachable.`);
  }
  return found;
}

export async function ownKey(p: ReadonlyMap<string, string>, ctx: ApiContext): Promise<{ key: AccessKey; owner: User }> {
  const owner = await targetUser(p, ctx);
  const id = required(p, 'AccessKeyId');
  const key = (await ctx.store.listAccessKeys(owner.accountId, owner.userName)).find((k) => k.accessKeyId === id);
  if (key === undefined) throw new PortcullisError('NoSuchEntity', `The Access Key with id ${id} cannot be found.`);
  return { key, owner };
}

export const asOwner = (u: User): PolicyOwner => ({ type: 'user', id: u.userId });
