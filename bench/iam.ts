/**
 * Policy evaluations per second for a principal with N identity policies of 10 statements
 * each, every statement with conditions, for N = 1, 10, 100; the 10-policy figure against the
 * issue's target, and how the cost grows with N (linear growth keeps the per-policy cost flat).
 */
import { compilePolicy, evaluate, parsePolicy, RequestContext, type CompiledPolicy } from '../src/iam/index.js';
import { compare, fmt } from './measure.js';

function policy(p: number): CompiledPolicy {
  const statements = Array.from({ length: 10 }, (_, s) => ({
    Sid: `P${p}S${s}`,
    Effect: 'Allow',
    Action: [`s3:Get${s}*`, `dynamodb:Query${p}`],
    Resource: [`arn:aws:s3:::bucket-${p}/\${aws:username}/*`, `arn:aws:dynamodb:us-east-1:111122223333:table/t${s}`],
    Condition: {
      StringEquals: { 'aws:PrincipalTag/team': ['blue', `team-${s}`] },
      IpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '192.0.2.0/24'] },
      NumericGreaterThanEquals: { 'portcullis:TlsVersion': '1.2' },
    },
  }));
  return compilePolicy(`policy-${p}`, parsePolicy(JSON.stringify({ Version: '2012-10-17', Statement: statements }), 'identity'), 'identity');
}

export async function benchIam(): Promise<void> {
  const principal = { kind: 'user' as const, arn: 'arn:aws:iam::111122223333:user/alice', accountId: '111122223333' };
  const context = new RequestContext([
    ['aws:username', 'alice'],
    ['aws:PrincipalTag/team', 'blue'],
    ['aws:SourceIp', '192.0.2.17'],
    ['portcullis:TlsVersion', '1.3'],
  ]);
  // The request is allowed only by the last statement of the last policy, so every statement is looked at.
  const sets = [1, 10, 100].map((n) => {
    const identity = Array.from({ length: n }, (_, p) => policy(p));
    const request = { principal, action: 's3:Get9Object', resource: `arn:aws:s3:::bucket-${n - 1}/alice/report.csv`, context };
    const d = evaluate(request, { identity });
    if (d.decision !== 'allowed' || d.matched[0]?.sid !== `P${n - 1}S9`) throw new Error(`bench request should be allowed by P${n - 1}S9: ${JSON.stringify(d)}`);
    return { n, op: () => evaluate(request, { identity }) };
  });
  const rates = await compare(sets.map((s) => ({ name: `${s.n} policies`, op: s.op })));
  const [one, ten, hundred] = rates as unknown as [{ opsPerSec: number }, { opsPerSec: number }, { opsPerSec: number }];
  console.log('iam: evaluations/s, policies of 10 statements with 3 conditions each');
  console.log(`  1 policy      ${fmt(one.opsPerSec)} /s   cost 1.00 (baseline)`);
  console.log(`  10 policies   ${fmt(ten.opsPerSec)} /s   cost ${(one.opsPerSec / ten.opsPerSec).toFixed(2)}x for 10x the policies (target >= 200,000/s)`);
  console.log(`  100 policies  ${fmt(hundred.opsPerSec)} /s   cost ${(one.opsPerSec / hundred.opsPerSec).toFixed(2)}x for 100x the policies (linear: <= 100x)`);
}
