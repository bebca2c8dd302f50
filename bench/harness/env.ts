/**
 * One benchmark environment: a real kube-apiserver + etcd from the test kit, with the Datum CRDs, project
 * namespaces seeded as upstream leaves them, and an identity for the subject under test (a static token for
 * user `bench-subject`). The API server's audit log records every request of that user and nobody else's, so
 * requests are counted from the server's side: both of the provider's clients, watches and Events included.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HttpClient } from '../../src/runtime/client/client.ts';
import { toKubeconfigYaml } from '../../src/runtime/client/config.ts';
import { seedProject } from '../../src/testkit/contract/fixtures.ts';
import { OUR_CRDS } from '../../src/testkit/contract/suite.ts';
import { ControlPlane, DATUM_CRDS } from '../../src/testkit/index.ts';
import { AuditCounter } from './audit.ts';

export const SUBJECT_USER = 'bench-subject';
export const LOCATION_CLASS = 'datum-provider-ts';

export interface BenchEnv {
  cp: ControlPlane;
  /** The load generator's client (admin, not audited). */
  admin: HttpClient;
  /** Kubeconfig of the subject under test (token of SUBJECT_USER). */
  subjectKubeconfig: string;
  namespaces: string[];
  audit: AuditCounter;
  stop(): Promise<void>;
}

export async function startEnv(opts: { namespaces: number }): Promise<BenchEnv> {
  const token = `bench-${process.pid}-${Date.now()}`;
  const auditPath = `/tmp/datum-bench-audit-${process.pid}-${Date.now()}.log`;
  const cp = await ControlPlane.start({
    crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, OUR_CRDS],
    tokenAuthFile: [{ token, user: SUBJECT_USER, groups: ['system:masters'] }],
    auditLog: { path: auditPath, rules: [{ level: 'Metadata', users: [SUBJECT_USER] }] },
    // The load generator writes thousands of objects at once: no API priority-and-fairness queuing in the way.
    extraApiServerArgs: ['--max-requests-inflight=2000', '--max-mutating-requests-inflight=1000'],
  });
  const admin = cp.client();
  const namespaces = Array.from({ length: opts.namespaces }, (_, i) => `bench-${i}`);
  for (const ns of namespaces)
    await seedProject(admin, ns, { name: 'dfw', className: LOCATION_CLASS, city: 'DFW' });
  const subjectKubeconfig = join(cp.dir, 'subject.kubeconfig');
  const { certData: _c, keyData: _k, ...rest } = cp.connection;
  writeFileSync(subjectKubeconfig, toKubeconfigYaml({ ...rest, token }, 'bench'), { mode: 0o600 });
  const audit = new AuditCounter(auditPath);
  return {
    cp,
    admin,
    subjectKubeconfig,
    namespaces,
    audit,
    async stop() {
      await cp.stop();
      audit.remove();
    },
  };
}
