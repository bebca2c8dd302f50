/**
 * `datum-provider scaffold --name <platform> [--dir .]`: a new backend package that compiles against the
 * Backend interface, with a contract-suite test and a README for its author. Never overwrites a file.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const NAME = /^[a-z][a-z0-9-]{1,30}$/;

function pascal(name: string): string {
  return name.replace(/(^|-)([a-z0-9])/g, (_m, _d, c: string) => c.toUpperCase());
}

export function scaffoldFiles(name: string): Record<string, string> {
  const cls = `${pascal(name)}Backend`;
  return {
    [`src/backends/${name}/backend.ts`]: `/**
 * The ${name} backend. Start from src/backends/inmemory/backend.ts (the reference) and docs/backend-interface.md
 * (the rules). Every method below must be idempotent for a given \`id\` and must tag what it creates with
 * \`owner\` so that \`listManaged\` finds it.
 */
import {
  type Backend,
  type BackendCapabilities,
  type BackendContext,
  BackendError,
  type DeleteResult,
  type InstanceDesired,
  type InstanceObserved,
  type ManagedResource,
  type NetworkDesired,
  type NetworkObserved,
  type SubnetDesired,
  type SubnetObserved,
} from '../../datum/backend.ts';

export interface ${cls}Options {
  /** Where the platform's API is (an emulator in tests). */
  endpoint?: string;
}

export class ${cls} implements Backend {
  readonly name = '${name}';
  private readonly options: ${cls}Options;

  constructor(options: ${cls}Options = {}) {
    this.options = options;
  }

  capabilities(): BackendCapabilities {
    // TODO: what your platform offers; anything else is refused with a condition before you are called.
    return { runtimes: ['sandbox'], volumeKinds: ['configMap', 'secret'], features: [], instanceTypes: ['datumcloud/d1-standard-2'] };
  }

  async ensureNetwork(_ctx: BackendContext, desired: NetworkDesired): Promise<NetworkObserved> {
    // TODO: find the network tagged with desired.id; create it (tagged with desired.owner) if missing.
    throw new BackendError('Unsupported', \`${name}: ensureNetwork(\${desired.id}) is not implemented yet\`);
  }

  async deleteNetwork(_ctx: BackendContext, id: string): Promise<DeleteResult> {
    // TODO: delete; return { gone: false } while the platform is still tearing down or subnets remain.
    throw new BackendError('Unsupported', \`${name}: deleteNetwork(\${id}) is not implemented yet\`);
  }

  async ensureSubnet(_ctx: BackendContext, desired: SubnetDesired): Promise<SubnetObserved> {
    throw new BackendError('Unsupported', \`${name}: ensureSubnet(\${desired.id}) is not implemented yet\`);
  }

  async deleteSubnet(_ctx: BackendContext, id: string): Promise<DeleteResult> {
    throw new BackendError('Unsupported', \`${name}: deleteSubnet(\${id}) is not implemented yet\`);
  }

  async ensureInstance(_ctx: BackendContext, desired: InstanceDesired): Promise<InstanceObserved> {
    // TODO: look up by desired.id first (a crash may have left one behind), create with an idempotency token,
    // converge drift, and report the power state and addresses, with upToDate: false while a change is still
    // being applied. Secret content (sensitive: true) must not land in plain-text platform metadata.
    throw new BackendError('Unsupported', \`${name}: ensureInstance(\${desired.id}) is not implemented yet\`);
  }

  async deleteInstance(_ctx: BackendContext, id: string): Promise<DeleteResult> {
    throw new BackendError('Unsupported', \`${name}: deleteInstance(\${id}) is not implemented yet\`);
  }

  async listManaged(_ctx: BackendContext): Promise<ManagedResource[]> {
    // TODO: every resource carrying your ownership tags, for the orphan sweep.
    void this.options;
    return [];
  }

  async release(
    _ctx: BackendContext,
    kind: 'instance' | 'subnet' | 'network',
    id: string,
  ): Promise<{ released: string[] }> {
    // TODO: deletion policy Retain: remove your ownership marks from the resource (leave it running).
    throw new BackendError('Unsupported', \`${name}: release(\${kind}, \${id}) is not implemented yet\`);
  }
}
`,
    [`test/backends/${name}-contract.test.ts`]: `/** The backend contract suite for the ${name} backend (see docs/backend-interface.md). */
import { ${cls} } from '../../src/backends/${name}/backend.ts';
import { runContractSuite } from '../../src/testkit/contract/suite.ts';

runContractSuite({
  name: '${name}',
  async makeBackend() {
    const backend = new ${cls}({ endpoint: process.env.${name.toUpperCase().replace(/-/g, '_')}_ENDPOINT });
    return {
      backend,
      async owned(uid) {
        // TODO: pass a real context once listManaged talks to the platform.
        return (await backend.listManaged({} as never)).filter((r) => r.owner.uid === uid);
      },
      async plantOrphan(owner) {
        throw new Error(\`plant an instance owned by \${owner.uid} directly on the platform\`);
      },
      async cleanup() {},
    };
  },
});
`,
    [`src/backends/${name}/README.md`]: `# The ${name} backend

1. Implement \`backend.ts\` (the TODOs), reading \`docs/backend-interface.md\` and \`src/backends/inmemory/backend.ts\`.
2. Run the contract suite: \`./node_modules/.bin/node --test test/backends/${name}-contract.test.ts\`.
3. Register it in \`src/cli/backends.ts\`, then \`make run ARGS="--backend ${name}"\`.
`,
  };
}

export function scaffold(name: string, dir = '.'): string[] {
  if (!NAME.test(name))
    throw new Error(
      `backend name '${name}' must be lower-case letters, digits and dashes, starting with a letter`,
    );
  const files = scaffoldFiles(name);
  const root = resolve(dir);
  const existing = Object.keys(files).filter((f) => existsSync(join(root, f)));
  if (existing.length) throw new Error(`refusing to overwrite: ${existing.join(', ')}`);
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeFileSync(join(root, f), text);
  }
  return Object.keys(files);
}
