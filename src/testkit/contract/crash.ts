/**
 * Crash safety: a provider process killed right after the backend created an instance (before the status
 * write) is restarted; afterwards exactly one backend instance exists and the Instance is Programmed.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { INSTANCE, SUBNET } from '../../datum/api/resources.ts';
import type { Instance } from '../../datum/api/types.ts';
import type { HttpClient } from '../../runtime/client/client.ts';
import { createInstance, createLocation, createNetworking } from './fixtures.ts';
import type { ContractHandle } from './suite.ts';
import { condOf, waitForCondition, waitForGone } from './wait.ts';

const CLASS = 'crash-test-class';
const MAIN = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

/** The provider CLI as a child process, for `ContractHandle.providerProcess`. */
export function providerCommand(o: {
  kubeconfig: string;
  locationClass: string;
  backend: string;
  backendConfig: Record<string, string>;
  failpoint?: string;
  /** The provider's executable module: a provider project's own `main.ts` (default: this package's CLI). */
  main?: string;
}) {
  return {
    command: process.execPath,
    args: [
      o.main ?? MAIN,
      'run',
      '--kubeconfig',
      o.kubeconfig,
      '--location-class',
      o.locationClass,
      '--backend',
      o.backend,
    ],
    env: {
      DATUM_BACKEND_CONFIG: JSON.stringify(o.backendConfig),
      DATUM_FAILPOINT: o.failpoint ?? '',
      LOG_LEVEL: 'warn',
    },
  };
}

export async function crashTest(o: {
  client: HttpClient;
  kubeconfig: string;
  handle: ContractHandle;
  ns: string;
  runtime?: 'sandbox' | 'virtualMachine';
}): Promise<void> {
  const { client, handle, ns } = o;
  const loc = { name: 'crash-site', namespace: ns };
  await createLocation(client, ns, loc.name, CLASS, 'LHR');
  await createNetworking(client, ns, 'default', loc, '10.132.0.0/20');
  // Every provider process this test starts is killed when it ends, pass or fail: a leftover provider would
  // keep the test runner alive (and keep reconciling into the next test).
  const started: { child: ChildProcess; exited: Promise<unknown> }[] = [];
  try {
    await crashFlow(o, loc, (failpoint) => {
      const r = run(failpoint);
      started.push(r);
      return r;
    });
  } finally {
    for (const r of started)
      if (r.child.exitCode === null && r.child.signalCode === null) {
        r.child.kill('SIGKILL');
        await r.exited;
      }
  }

  function run(failpoint?: string) {
    const p = handle.providerProcess!(o.kubeconfig, CLASS, failpoint);
    const child = spawn(p.command, p.args, {
      env: { ...process.env, ...p.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      child.once('exit', (code, signal) => r({ code, signal })),
    );
    return { child, exited, stderr: () => err };
  }
}

type Run = (failpoint?: string) => {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
};

async function crashFlow(
  o: { client: HttpClient; handle: ContractHandle; ns: string; runtime?: 'sandbox' | 'virtualMachine' },
  loc: { name: string; namespace: string },
  run: Run,
): Promise<void> {
  const { client, handle, ns } = o;
  // Networking first (no failpoint), so the crash hits the instance create.
  const warm = run();
  // The provider here is a child process: its stderr is its log.
  const logsOf = (r: ReturnType<Run>) => ({
    get logs() {
      return r.stderr().split('\n');
    },
  });
  await waitForCondition(logsOf(warm), {
    client,
    resource: SUBNET,
    name: 'default-project-a-crash-site-0',
    namespace: ns,
    conditions: { Programmed: 'True' },
  });
  warm.child.kill('SIGTERM');
  await warm.exited;

  const inst = await createInstance(client, {
    name: 'crashy-0',
    namespace: ns,
    location: loc,
    runtime: o.runtime,
    networkPolicy: handle.backend.capabilities().features.includes('networkPolicy'),
  });
  const first = run('after-ensure-instance');
  // The timer is cleared once the race is decided: a pending 60 s timer kept `node --test` alive after a green
  // run for the rest of its minute.
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([
    first.exited,
    new Promise<undefined>((r) => {
      timer = setTimeout(() => r(undefined), 60_000);
    }),
  ]).finally(() => clearTimeout(timer));
  assert.ok(exit, `the provider did not reach the failpoint: ${first.stderr().slice(-2000)}`);
  assert.equal(exit.signal, 'SIGKILL', 'killed at the failpoint');
  const afterCrash = await client.get<Instance>(INSTANCE, 'crashy-0', ns);
  assert.notEqual(
    condOf(afterCrash, 'Programmed')?.status,
    'True',
    'status was not written before the crash',
  );
  assert.equal(
    (await handle.owned(inst.metadata.uid!)).filter((r) => r.kind === 'instance').length,
    1,
    'the backend instance exists',
  );

  const second = run();
  try {
    await waitForCondition(logsOf(second), {
      client,
      resource: INSTANCE,
      name: 'crashy-0',
      namespace: ns,
      conditions: { Programmed: 'True' },
    });
    assert.equal(
      (await handle.owned(inst.metadata.uid!)).filter((r) => r.kind === 'instance').length,
      1,
      'still exactly one backend instance',
    );
    await client.delete(INSTANCE, 'crashy-0', ns);
    await waitForGone(logsOf(second), { client, resource: INSTANCE, name: 'crashy-0', namespace: ns });
    assert.deepEqual(await handle.owned(inst.metadata.uid!), []);
  } finally {
    second.child.kill('SIGTERM');
    await second.exited;
  }
}
