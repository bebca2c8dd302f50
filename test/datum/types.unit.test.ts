/**
 * Proves src/datum/api/types.ts agrees with the upstream CRDs: every field's presence, type, enum values and
 * required marker, recursively, read from the TypeScript source with the compiler API.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { DATUM_CRDS } from '../../src/localenv/controlplane.ts';
import { readCRDs } from '../../src/localenv/crds.ts';
import { compare, compareKind } from './crd-compare.ts';

const TYPES_FILE = fileURLToPath(new URL('../../src/datum/api/types.ts', import.meta.url));
describe('Datum API types match the upstream CRDs', () => {
  const program = ts.createProgram([TYPES_FILE], {
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    allowImportingTsExtensions: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(TYPES_FILE)!;
  const symbols = new Map(
    checker.getExportsOfModule(checker.getSymbolAtLocation(source)!).map((s) => [s.name, s]),
  );
  const crds = readCRDs([DATUM_CRDS.compute, DATUM_CRDS.networkClassic]);
  const kinds = [
    'Workload',
    'WorkloadDeployment',
    'Instance',
    'Location',
    'Network',
    'NetworkBinding',
    'NetworkContext',
    'NetworkPolicy',
    'Subnet',
    'SubnetClaim',
  ];

  for (const kind of kinds) {
    it(kind, () => {
      const crd = crds.find((c) => c.spec.names.kind === kind);
      assert.ok(crd, `CRD for ${kind} found in ../shared`);
      const schema = crd.spec.versions.find((v: { storage: boolean }) => v.storage).schema.openAPIV3Schema;
      const sym = symbols.get(kind);
      assert.ok(sym, `interface ${kind} exported from types.ts`);
      assert.deepEqual(compareKind(checker, checker.getDeclaredTypeOfSymbol(sym), schema, kind), []);
    });
  }

  it('detects a drift (the checker itself can fail)', () => {
    const errors: string[] = [];
    const sym = symbols.get('NetworkSpec')!;
    compare(
      checker,
      checker.getDeclaredTypeOfSymbol(sym),
      {
        type: 'object',
        properties: { ipam: { type: 'object' }, extra: { type: 'string' } },
        required: ['extra'],
      },
      'Fake',
      errors,
    );
    assert.ok(errors.some((e) => e.includes('Fake.extra: in the CRD, missing in TS')));
    assert.ok(errors.some((e) => e.includes('Fake.mtu: in TS, not in the CRD')));
  });
});
