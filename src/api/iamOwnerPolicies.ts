/**
 * The policy actions users, groups and roles share, built once for each: Put/Get/List/Delete
 * {Noun}Policy for inline policies and Attach/Detach/ListAttached{Noun}Policies for managed ones.
 */
import { PortcullisError } from '../core/errors.js';
import { parsePolicy } from '../iam/document.js';
import type { PolicyOwner } from '../store/types.js';
import { checkName, IAM_LIMITS, paginate, policy, store } from './iamShared.js';
import { required } from './query.js';
import type { ApiContext, QueryAction } from './sts.js';

type Params = ReadonlyMap<string, string>;

export interface OwnerKind {
  /** `User`, `Group` or `Role`: the action names' middle and the parameter `{Noun}Name`. */
  readonly noun: 'User' | 'Group' | 'Role';
  /** The named owner, or NoSuchEntity. */
  find(name: string, ctx: ApiContext): Promise<{ owner: PolicyOwner; name: string }>;
  /** The ARN the action is authorized against. */
  resource(p: Params, ctx: ApiContext): Promise<string>;
  /** IAM's quota on the sum of one owner's inline policies. */
  readonly inlineLimit: number;
}

/** iam:PolicyARN: the managed policy an attach or detach names. */
const policyArnKey = (p: Params): Array<[string, string]> => {
  const arn = p.get('PolicyArn');
  return arn === undefined ? [] : [['iam:PolicyARN', arn]];
};

export function ownerPolicyActions(k: OwnerKind): Record<string, QueryAction> {
  const nameParam = `${k.noun}Name`;
  const member = `${k.noun.toLowerCase()}Name`;
  const owner = (p: Params, ctx: ApiContext) => k.find(checkName(required(p, nameParam), member, k.noun === 'User' ? 64 : 128), ctx);
  const noun = k.noun.toLowerCase();
  const resource = k.resource;
  return {
    [`Put${k.noun}Policy`]: {
      resource,
      async run(p, ctx) {
        const { owner: o, name } = await owner(p, ctx);
        const policyName = checkName(required(p, 'PolicyName'), 'policyName', 128);
        const document = required(p, 'PolicyDocument');
        parsePolicy(document, 'identity');
        await store(ctx.store.putInlinePolicy(o, policyName, document, k.inlineLimit), { limit: `Maximum policy size of ${k.inlineLimit} bytes exceeded for ${noun} ${name}` });
        ctx.policiesChanged();
        return undefined;
      },
    },
    [`Get${k.noun}Policy`]: {
      resource,
      async run(p, ctx) {
        const { owner: o, name } = await owner(p, ctx);
        const policyName = required(p, 'PolicyName');
        const found = await ctx.store.getInlinePolicy(o, policyName);
        if (found === undefined) throw new PortcullisError('NoSuchEntity', `The ${noun} policy with name ${policyName} cannot be found.`);
        // IAM returns documents URL-encoded; the SDKs and the CLI decode them.
        return { [nameParam]: name, PolicyName: found.policyName, PolicyDocument: encodeURIComponent(found.document) };
      },
    },
    [`List${k.noun}Policies`]: {
      resource,
      async run(p, ctx) {
        const { owner: o } = await owner(p, ctx);
        const { page, more } = paginate((await ctx.store.listInlinePolicies(o)).map((x) => x.policyName), p);
        return { PolicyNames: page, ...more };
      },
    },
    [`Delete${k.noun}Policy`]: {
      resource,
      async run(p, ctx) {
        const { owner: o } = await owner(p, ctx);
        const policyName = required(p, 'PolicyName');
        await store(ctx.store.deleteInlinePolicy(o, policyName), { notFound: `The ${noun} policy with name ${policyName} cannot be found.` });
        ctx.policiesChanged();
        return undefined;
      },
    },
    [`Attach${k.noun}Policy`]: {
      resource,
      context: policyArnKey,
      async run(p, ctx) {
        const { owner: o } = await owner(p, ctx);
        const found = await policy(ctx, required(p, 'PolicyArn'));
        await store(ctx.store.attachPolicy(o, found.arn, IAM_LIMITS.attachedPoliciesPerUser), {
          limit: `Cannot exceed quota for PoliciesPer${k.noun}: ${IAM_LIMITS.attachedPoliciesPerUser}`,
        });
        ctx.policiesChanged();
        return undefined;
      },
    },
    [`Detach${k.noun}Policy`]: {
      resource,
      context: policyArnKey,
      async run(p, ctx) {
        const { owner: o } = await owner(p, ctx);
        const arn = required(p, 'PolicyArn');
        await store(ctx.store.detachPolicy(o, arn), { notFound: `Policy ${arn} was not found.` });
        ctx.policiesChanged();
        return undefined;
      },
    },
    [`ListAttached${k.noun}Policies`]: {
      resource,
      async run(p, ctx) {
        const { owner: o } = await owner(p, ctx);
        const { page, more } = paginate(await ctx.store.listAttachedPolicies(o), p);
        return { AttachedPolicies: page.map((x) => ({ PolicyName: x.policyName, PolicyArn: x.arn })), ...more };
      },
    },
  };
}
