/**
 * Proves src/datum/api/cell-types.ts agrees with the shared cell-generation CRDs (the set DATUM_CRDS.cell
 * installs), field for field, as types.unit.test.ts does for the classic generation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { DATUM_CRDS } from '../../src/localenv/controlplane.ts';
import { readCRDs } from '../../src/localenv/crds.ts';
import { compareKind } from './crd-compare.ts';

const TYPES_FILE = fileURLToPath(new URL('../../src/datum/api/cell-types.ts', import.meta.url));
const KINDS: Record<string, string> = {
  Instance: 'CellInstance',
  WorkloadDeployment: 'CellWorkloadDeployment',
  RuntimeClass: 'RuntimeClass',
  InstanceType: 'InstanceType',
  ServingLocation: 'ServingLocation',
};

describe('cell-generation API types match the shared cell CRDs', () => {
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
  const crds = readCRDs(DATUM_CRDS.cell);

  for (const [kind, tsName] of Object.entries(KINDS)) {
    it(`${kind} (${tsName})`, () => {
      const crd = crds.find((c) => c.spec.names.kind === kind);
      assert.ok(crd, `CRD for ${kind} found in ../shared`);
      const schema = crd.spec.versions.find((v: { storage: boolean }) => v.storage).schema.openAPIV3Schema;
      const sym = symbols.get(tsName);
      assert.ok(sym, `interface ${tsName} exported from cell-types.ts`);
      assert.deepEqual(compareKind(checker, checker.getDeclaredTypeOfSymbol(sym), schema, kind), []);
    });
  }
});
