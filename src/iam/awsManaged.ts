/**
 * The AWS-managed policies every Portcullis account has from the start. Their ARNs are AWS's
 * (`arn:aws:iam::aws:policy/…`) so policies and scripts written for AWS work unchanged; their
 * contents cover the services Portcullis serves.
 */
export interface AwsManagedPolicy {
  readonly name: string;
  readonly arn: string;
  readonly description: string;
  readonly document: string;
}

function managed(name: string, description: string, statement: object): AwsManagedPolicy {
  return {
    name,
    arn: `arn:aws:iam::aws:policy/${name}`,
    description,
    document: JSON.stringify({ Version: '2012-10-17', Statement: [statement] }),
  };
}

export const AWS_MANAGED_POLICIES: readonly AwsManagedPolicy[] = [
  managed('AdministratorAccess', 'Provides full access to every action on every resource.', { Effect: 'Allow', Action: '*', Resource: '*' }),
  managed('ReadOnlyAccess', 'Provides read-only access: the Get, List and Simulate actions of IAM and STS.', {
    Effect: 'Allow',
    Action: ['iam:Get*', 'iam:List*', 'iam:Simulate*', 'sts:Get*'],
    Resource: '*',
  }),
];

export const ADMINISTRATOR_ACCESS_ARN = 'arn:aws:iam::aws:policy/AdministratorAccess';
