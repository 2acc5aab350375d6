/** Who made a request, as authentication established it. */
export interface UserPrincipal {
  readonly type: 'user';
  readonly accountId: string;
  readonly userName: string;
  readonly userId: string;
  readonly path: string;
  readonly arn: string;
}

export type Principal = UserPrincipal;

export function userArn(accountId: string, path: string, userName: string): string {
  return `arn:aws:iam::${accountId}:user${path}${userName}`;
}
