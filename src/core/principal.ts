/** Who made a request, as authentication established it. */

/** What temporary credentials add: when they were issued and what narrows them. */
export interface SessionInfo {
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** Session policies (JSON texts): the session may do only what they also allow. */
  readonly policies: readonly string[];
  readonly tags: Readonly<Record<string, string>>;
  readonly transitiveTagKeys: readonly string[];
  readonly sourceIdentity: string | undefined;
  readonly chained: boolean;
}

/** An IAM user, with a long-term key or with GetSessionToken credentials (`session`). */
export interface UserPrincipal {
  readonly type: 'user';
  readonly accountId: string;
  readonly userName: string;
  readonly userId: string;
  readonly path: string;
  readonly arn: string;
  readonly session?: SessionInfo | undefined;
}

/** A role session from AssumeRole. */
export interface RolePrincipal {
  readonly type: 'assumed-role';
  readonly accountId: string;
  readonly roleName: string;
  readonly roleId: string;
  readonly rolePath: string;
  readonly roleArn: string;
  readonly sessionName: string;
  /** `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` */
  readonly arn: string;
  /** `AROA…:SESSION`, the aws:userid of a role session. */
  readonly userId: string;
  readonly session: SessionInfo;
}

/** A federated user from GetFederationToken: the calling user's policies, narrowed by the session's. */
export interface FederatedPrincipal {
  readonly type: 'federated-user';
  readonly accountId: string;
  readonly name: string;
  /** `arn:aws:sts::ACCOUNT:federated-user/NAME` */
  readonly arn: string;
  /** `ACCOUNT:NAME`, the aws:userid of a federated user. */
  readonly userId: string;
  /** The IAM user whose policies the federated user has (intersected with the session's). */
  readonly iamUserId: string;
  readonly session: SessionInfo;
}

export type Principal = UserPrincipal | RolePrincipal | FederatedPrincipal;

export function userArn(accountId: string, path: string, userName: string): string {
  return `arn:aws:iam::${accountId}:user${path}${userName}`;
}

export function roleArn(accountId: string, path: string, roleName: string): string {
  return `arn:aws:iam::${accountId}:role${path}${roleName}`;
}

export function assumedRoleArn(accountId: string, roleName: string, sessionName: string): string {
  return `arn:aws:sts::${accountId}:assumed-role/${roleName}/${sessionName}`;
}
