/** A small typed client for Portcullis's IAM (query protocol, 2010-05-08). */
import { listParams, QueryClient, type ClientConfig, type QueryParams } from './query.js';
import { members, textAt, type XmlElement } from './xml.js';

export interface User {
  readonly userName: string;
  readonly userId: string;
  readonly arn: string;
  readonly path: string;
  readonly createDate: string;
}

export interface Group {
  readonly groupName: string;
  readonly groupId: string;
  readonly arn: string;
  readonly path: string;
  readonly createDate: string;
}

export interface Role {
  readonly roleName: string;
  readonly roleId: string;
  readonly arn: string;
  readonly path: string;
  readonly createDate: string;
  readonly maxSessionDuration: number | undefined;
  /** The trust policy, decoded (IAM sends it URL-encoded). */
  readonly assumeRolePolicyDocument: string | undefined;
  readonly description: string | undefined;
}

export interface AccessKeyMetadata {
  readonly userName: string;
  readonly accessKeyId: string;
  readonly status: 'Active' | 'Inactive';
  readonly createDate: string;
}

export interface NewAccessKey extends AccessKeyMetadata {
  readonly secretAccessKey: string;
}

export interface ManagedPolicy {
  readonly policyName: string;
  readonly policyId: string;
  readonly arn: string;
  readonly path: string;
  readonly defaultVersionId: string;
  readonly attachmentCount: number;
  readonly isAttachable: boolean;
  readonly description: string | undefined;
}

export interface PolicyVersion {
  readonly versionId: string;
  readonly isDefaultVersion: boolean;
  readonly createDate: string;
}

export interface AttachedPolicy {
  readonly policyName: string;
  readonly policyArn: string;
}

export interface EvaluationResult {
  readonly action: string;
  readonly resource: string;
  readonly decision: 'allowed' | 'explicitDeny' | 'implicitDeny' | string;
  readonly matchedStatements: readonly string[];
  readonly missingContextValues: readonly string[];
}

export interface ContextEntry {
  readonly key: string;
  readonly type: string;
  readonly values: readonly string[];
}

export type PrincipalKind = 'user' | 'group' | 'role';

const KIND: Record<PrincipalKind, { action: string; param: string }> = {
  user: { action: 'User', param: 'UserName' },
  group: { action: 'Group', param: 'GroupName' },
  role: { action: 'Role', param: 'RoleName' },
};

const s = (el: XmlElement, name: string) => textAt(el, name) ?? '';

function userOf(el: XmlElement): User {
  return { userName: s(el, 'UserName'), userId: s(el, 'UserId'), arn: s(el, 'Arn'), path: s(el, 'Path'), createDate: s(el, 'CreateDate') };
}

function groupOf(el: XmlElement): Group {
  return { groupName: s(el, 'GroupName'), groupId: s(el, 'GroupId'), arn: s(el, 'Arn'), path: s(el, 'Path'), createDate: s(el, 'CreateDate') };
}

function decodeDocument(d: string | undefined): string | undefined {
  if (d === undefined) return undefined;
  try {
    return decodeURIComponent(d);
  } catch {
    return d;
  }
}

function roleOf(el: XmlElement): Role {
  const max = textAt(el, 'MaxSessionDuration');
  return {
    roleName: s(el, 'RoleName'), roleId: s(el, 'RoleId'), arn: s(el, 'Arn'), path: s(el, 'Path'), createDate: s(el, 'CreateDate'),
    maxSessionDuration: max === undefined ? undefined : Number(max),
    assumeRolePolicyDocument: decodeDocument(textAt(el, 'AssumeRolePolicyDocument')),
    description: textAt(el, 'Description'),
  };
}

function keyOf(el: XmlElement): AccessKeyMetadata {
  return { userName: s(el, 'UserName'), accessKeyId: s(el, 'AccessKeyId'), status: s(el, 'Status') === 'Inactive' ? 'Inactive' : 'Active', createDate: s(el, 'CreateDate') };
}

function policyOf(el: XmlElement): ManagedPolicy {
  return {
    policyName: s(el, 'PolicyName'), policyId: s(el, 'PolicyId'), arn: s(el, 'Arn'), path: s(el, 'Path'),
    defaultVersionId: s(el, 'DefaultVersionId'), attachmentCount: Number(textAt(el, 'AttachmentCount') ?? 0),
    isAttachable: textAt(el, 'IsAttachable') !== 'false', description: textAt(el, 'Description'),
  };
}

function evaluationOf(el: XmlElement): EvaluationResult {
  return {
    action: s(el, 'EvalActionName'),
    resource: s(el, 'EvalResourceName'),
    decision: s(el, 'EvalDecision'),
    matchedStatements: members(el, 'MatchedStatements').map((m) => textAt(m, 'SourcePolicyId') ?? ''),
    missingContextValues: members(el, 'MissingContextValues').map((m) => m.text),
  };
}

function contextParams(entries: readonly ContextEntry[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  (entries ?? []).forEach((e, i) => {
    const p = `ContextEntries.member.${i + 1}`;
    out[`${p}.ContextKeyName`] = e.key;
    out[`${p}.ContextKeyType`] = e.type;
    Object.assign(out, listParams(`${p}.ContextKeyValues`, e.values));
  });
  return out;
}

export class IamClient {
  readonly #q: QueryClient;

  constructor(config: ClientConfig = {}) {
    this.#q = new QueryClient('iam', '2010-05-08', config);
  }

  /** Any IAM action; returns its `<ActionResult>` element. */
  call(action: string, params: QueryParams = {}): Promise<XmlElement> {
    return this.#q.call(action, params);
  }

  /** Follows `Marker`/`IsTruncated` and concatenates the `listName` members of every page. */
  async #all(action: string, listName: string, params: QueryParams = {}): Promise<XmlElement[]> {
    const out: XmlElement[] = [];
    let marker: string | undefined;
    for (let page = 0; page < 10_000; page++) {
      const r = await this.#q.call(action, { ...params, Marker: marker });
      out.push(...members(r, listName));
      if (textAt(r, 'IsTruncated') !== 'true') break;
      marker = textAt(r, 'Marker');
      if (!marker) break;
    }
    return out;
  }

  // --- users
  async listUsers(opts: { pathPrefix?: string } = {}): Promise<User[]> {
    return (await this.#all('ListUsers', 'Users', { PathPrefix: opts.pathPrefix })).map(userOf);
  }
  async createUser(userName: string, opts: { path?: string; permissionsBoundary?: string } = {}): Promise<User> {
    const r = await this.#q.call('CreateUser', { UserName: userName, Path: opts.path, PermissionsBoundary: opts.permissionsBoundary });
    return userOf(r.children.find((c) => c.name === 'User')!);
  }
  async getUser(userName?: string): Promise<User> {
    const r = await this.#q.call('GetUser', { UserName: userName });
    return userOf(r.children.find((c) => c.name === 'User')!);
  }
  async deleteUser(userName: string): Promise<void> {
    await this.#q.call('DeleteUser', { UserName: userName });
  }
  async listGroupsForUser(userName: string): Promise<Group[]> {
    return (await this.#all('ListGroupsForUser', 'Groups', { UserName: userName })).map(groupOf);
  }

  // --- groups
  async listGroups(): Promise<Group[]> {
    return (await this.#all('ListGroups', 'Groups')).map(groupOf);
  }
  async createGroup(groupName: string, opts: { path?: string } = {}): Promise<Group> {
    const r = await this.#q.call('CreateGroup', { GroupName: groupName, Path: opts.path });
    return groupOf(r.children.find((c) => c.name === 'Group')!);
  }
  async getGroup(groupName: string): Promise<{ group: Group; users: User[] }> {
    const r = await this.#q.call('GetGroup', { GroupName: groupName });
    return { group: groupOf(r.children.find((c) => c.name === 'Group')!), users: members(r, 'Users').map(userOf) };
  }
  async deleteGroup(groupName: string): Promise<void> {
    await this.#q.call('DeleteGroup', { GroupName: groupName });
  }
  async addUserToGroup(groupName: string, userName: string): Promise<void> {
    await this.#q.call('AddUserToGroup', { GroupName: groupName, UserName: userName });
  }
  async removeUserFromGroup(groupName: string, userName: string): Promise<void> {
    await this.#q.call('RemoveUserFromGroup', { GroupName: groupName, UserName: userName });
  }

  // --- roles
  async listRoles(): Promise<Role[]> {
    return (await this.#all('ListRoles', 'Roles')).map(roleOf);
  }
  async createRole(roleName: string, trustPolicy: string, opts: { path?: string; maxSessionDuration?: number; description?: string } = {}): Promise<Role> {
    const r = await this.#q.call('CreateRole', { RoleName: roleName, AssumeRolePolicyDocument: trustPolicy, Path: opts.path, MaxSessionDuration: opts.maxSessionDuration, Description: opts.description });
    return roleOf(r.children.find((c) => c.name === 'Role')!);
  }
  async getRole(roleName: string): Promise<Role> {
    const r = await this.#q.call('GetRole', { RoleName: roleName });
    return roleOf(r.children.find((c) => c.name === 'Role')!);
  }
  async deleteRole(roleName: string): Promise<void> {
    await this.#q.call('DeleteRole', { RoleName: roleName });
  }
  async updateAssumeRolePolicy(roleName: string, trustPolicy: string): Promise<void> {
    await this.#q.call('UpdateAssumeRolePolicy', { RoleName: roleName, PolicyDocument: trustPolicy });
  }

  // --- access keys
  async listAccessKeys(userName?: string): Promise<AccessKeyMetadata[]> {
    return (await this.#all('ListAccessKeys', 'AccessKeyMetadata', { UserName: userName })).map(keyOf);
  }
  async createAccessKey(userName?: string): Promise<NewAccessKey> {
    const r = await this.#q.call('CreateAccessKey', { UserName: userName });
    const k = r.children.find((c) => c.name === 'AccessKey')!;
    return { ...keyOf(k), secretAccessKey: s(k, 'SecretAccessKey') };
  }
  async updateAccessKey(accessKeyId: string, status: 'Active' | 'Inactive', userName?: string): Promise<void> {
    await this.#q.call('UpdateAccessKey', { AccessKeyId: accessKeyId, Status: status, UserName: userName });
  }
  async deleteAccessKey(accessKeyId: string, userName?: string): Promise<void> {
    await this.#q.call('DeleteAccessKey', { AccessKeyId: accessKeyId, UserName: userName });
  }
  async getAccessKeyLastUsed(accessKeyId: string): Promise<{ userName: string; lastUsedDate: string | undefined; serviceName: string; region: string }> {
    const r = await this.#q.call('GetAccessKeyLastUsed', { AccessKeyId: accessKeyId });
    return { userName: s(r, 'UserName'), lastUsedDate: textAt(r, 'AccessKeyLastUsed', 'LastUsedDate'), serviceName: textAt(r, 'AccessKeyLastUsed', 'ServiceName') ?? '', region: textAt(r, 'AccessKeyLastUsed', 'Region') ?? '' };
  }

  // --- managed policies
  async listPolicies(opts: { scope?: 'All' | 'AWS' | 'Local'; onlyAttached?: boolean } = {}): Promise<ManagedPolicy[]> {
    return (await this.#all('ListPolicies', 'Policies', { Scope: opts.scope, OnlyAttached: opts.onlyAttached })).map(policyOf);
  }
  async createPolicy(policyName: string, document: string, opts: { path?: string; description?: string } = {}): Promise<ManagedPolicy> {
    const r = await this.#q.call('CreatePolicy', { PolicyName: policyName, PolicyDocument: document, Path: opts.path, Description: opts.description });
    return policyOf(r.children.find((c) => c.name === 'Policy')!);
  }
  async getPolicy(arn: string): Promise<ManagedPolicy> {
    const r = await this.#q.call('GetPolicy', { PolicyArn: arn });
    return policyOf(r.children.find((c) => c.name === 'Policy')!);
  }
  async getPolicyDocument(arn: string, versionId: string): Promise<string> {
    const r = await this.#q.call('GetPolicyVersion', { PolicyArn: arn, VersionId: versionId });
    return decodeDocument(textAt(r, 'PolicyVersion', 'Document')) ?? '';
  }
  async listPolicyVersions(arn: string): Promise<PolicyVersion[]> {
    return (await this.#all('ListPolicyVersions', 'Versions', { PolicyArn: arn })).map((v) => ({ versionId: s(v, 'VersionId'), isDefaultVersion: textAt(v, 'IsDefaultVersion') === 'true', createDate: s(v, 'CreateDate') }));
  }
  /** A new version of a managed policy, made the default unless `setAsDefault` is false. */
  async createPolicyVersion(arn: string, document: string, setAsDefault = true): Promise<PolicyVersion> {
    const r = await this.#q.call('CreatePolicyVersion', { PolicyArn: arn, PolicyDocument: document, SetAsDefault: setAsDefault });
    const v = r.children.find((c) => c.name === 'PolicyVersion')!;
    return { versionId: s(v, 'VersionId'), isDefaultVersion: textAt(v, 'IsDefaultVersion') === 'true', createDate: s(v, 'CreateDate') };
  }
  async deletePolicyVersion(arn: string, versionId: string): Promise<void> {
    await this.#q.call('DeletePolicyVersion', { PolicyArn: arn, VersionId: versionId });
  }
  async deletePolicy(arn: string): Promise<void> {
    await this.#q.call('DeletePolicy', { PolicyArn: arn });
  }
  async attachPolicy(kind: PrincipalKind, name: string, policyArn: string): Promise<void> {
    await this.#q.call(`Attach${KIND[kind].action}Policy`, { [KIND[kind].param]: name, PolicyArn: policyArn });
  }
  async detachPolicy(kind: PrincipalKind, name: string, policyArn: string): Promise<void> {
    await this.#q.call(`Detach${KIND[kind].action}Policy`, { [KIND[kind].param]: name, PolicyArn: policyArn });
  }
  async listAttachedPolicies(kind: PrincipalKind, name: string): Promise<AttachedPolicy[]> {
    return (await this.#all(`ListAttached${KIND[kind].action}Policies`, 'AttachedPolicies', { [KIND[kind].param]: name })).map((m) => ({ policyName: s(m, 'PolicyName'), policyArn: s(m, 'PolicyArn') }));
  }

  // --- inline policies
  async putInlinePolicy(kind: PrincipalKind, name: string, policyName: string, document: string): Promise<void> {
    await this.#q.call(`Put${KIND[kind].action}Policy`, { [KIND[kind].param]: name, PolicyName: policyName, PolicyDocument: document });
  }
  async getInlinePolicy(kind: PrincipalKind, name: string, policyName: string): Promise<string> {
    const r = await this.#q.call(`Get${KIND[kind].action}Policy`, { [KIND[kind].param]: name, PolicyName: policyName });
    return decodeDocument(textAt(r, 'PolicyDocument')) ?? '';
  }
  async listInlinePolicies(kind: PrincipalKind, name: string): Promise<string[]> {
    return (await this.#all(`List${KIND[kind].action}Policies`, 'PolicyNames', { [KIND[kind].param]: name })).map((m) => m.text);
  }
  async deleteInlinePolicy(kind: PrincipalKind, name: string, policyName: string): Promise<void> {
    await this.#q.call(`Delete${KIND[kind].action}Policy`, { [KIND[kind].param]: name, PolicyName: policyName });
  }

  // --- simulation
  async simulatePrincipalPolicy(input: { policySourceArn: string; actions: readonly string[]; resources?: readonly string[]; context?: readonly ContextEntry[]; policyInputList?: readonly string[] }): Promise<EvaluationResult[]> {
    const r = await this.#q.call('SimulatePrincipalPolicy', {
      PolicySourceArn: input.policySourceArn,
      ...listParams('ActionNames', input.actions),
      ...listParams('ResourceArns', input.resources),
      ...listParams('PolicyInputList', input.policyInputList),
      ...contextParams(input.context),
    });
    return members(r, 'EvaluationResults').map(evaluationOf);
  }
  async simulateCustomPolicy(input: { policies: readonly string[]; actions: readonly string[]; resources?: readonly string[]; context?: readonly ContextEntry[] }): Promise<EvaluationResult[]> {
    const r = await this.#q.call('SimulateCustomPolicy', {
      ...listParams('PolicyInputList', input.policies),
      ...listParams('ActionNames', input.actions),
      ...listParams('ResourceArns', input.resources),
      ...contextParams(input.context),
    });
    return members(r, 'EvaluationResults').map(evaluationOf);
  }
}
