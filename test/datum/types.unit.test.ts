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

const TYPES_FILE = fileURLToPath(new URL('../../src/datum/api/types.ts', import.meta.url));
// Paths deliberately left loosely typed, with the reason.
const OPAQUE: Record<string, string> = {
  'Workload.status.gateway':
    'Gateway API GatewayStatus embedded by compute but never written (datum-contract §4.1)',
};

// biome-ignore lint/suspicious/noExplicitAny: OpenAPI schema nodes
type Schema = any;

function compare(
  checker: ts.TypeChecker,
  type: ts.Type,
  schema: Schema,
  path: string,
  errors: string[],
): void {
  if (OPAQUE[path]) return;
  const t = checker.getNonNullableType(type);
  const str = checker.typeToString(t);
  if (schema['x-kubernetes-int-or-string']) {
    if (!/IntOrString|Quantity|string \| number|number \| string/.test(str))
      errors.push(`${path}: int-or-string expected, TS has ${str}`);
    return;
  }
  switch (schema.type) {
    case 'string': {
      if (schema.enum) {
        const lits = t.isUnion() ? t.types : [t];
        const vals = lits.map((x) => (x.isStringLiteral() ? x.value : `<${checker.typeToString(x)}>`)).sort();
        if (JSON.stringify(vals) !== JSON.stringify([...schema.enum].sort()))
          errors.push(`${path}: enum ${schema.enum} vs TS ${vals}`);
      } else if (!(t.flags & ts.TypeFlags.String)) errors.push(`${path}: string expected, TS has ${str}`);
      return;
    }
    case 'integer':
    case 'number':
      if (!(t.flags & ts.TypeFlags.Number)) errors.push(`${path}: number expected, TS has ${str}`);
      return;
    case 'boolean':
      if (!(t.flags & ts.TypeFlags.Boolean) && !(t.flags & ts.TypeFlags.BooleanLiteral) && str !== 'boolean')
        errors.push(`${path}: boolean expected, TS has ${str}`);
      return;
    case 'array': {
      if (!checker.isArrayType(t)) return void errors.push(`${path}: array expected, TS has ${str}`);
      compare(
        checker,
        checker.getTypeArguments(t as ts.TypeReference)[0]!,
        schema.items,
        `${path}[]`,
        errors,
      );
      return;
    }
    default: {
      const props = schema.properties as Record<string, Schema> | undefined;
      if (!props) {
        if (schema.additionalProperties) {
          const idx = checker.getIndexInfosOfType(t)[0];
          if (!idx) return void errors.push(`${path}: map expected, TS has ${str}`);
          compare(checker, idx.type, schema.additionalProperties, `${path}{}`, errors);
        }
        return;
      }
      const tsProps = new Map(checker.getPropertiesOfType(t).map((p) => [p.name, p]));
      const required = new Set<string>(schema.required ?? []);
      for (const [name, sub] of Object.entries(props)) {
        const p = tsProps.get(name);
        if (!p) {
          errors.push(`${path}.${name}: in the CRD, missing in TS`);
          continue;
        }
        const optional = (p.flags & ts.SymbolFlags.Optional) !== 0;
        if (optional === required.has(name))
          errors.push(
            `${path}.${name}: CRD says ${required.has(name) ? 'required' : 'optional'}, TS says ${optional ? 'optional' : 'required'}`,
          );
        compare(checker, checker.getTypeOfSymbol(p), sub, `${path}.${name}`, errors);
      }
      for (const name of tsProps.keys())
        if (!(name in props)) errors.push(`${path}.${name}: in TS, not in the CRD`);
    }
  }
}

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
      const type = checker.getDeclaredTypeOfSymbol(sym);
      const errors: string[] = [];
      const top = {
        type: 'object',
        properties: { spec: schema.properties.spec, status: schema.properties.status },
        required: (schema.required ?? []).filter((r: string) => r === 'spec' || r === 'status'),
      };
      const tsTop = checker.getPropertiesOfType(type).filter((p) => p.name === 'spec' || p.name === 'status');
      const wrapper = {
        ...top,
        properties: Object.fromEntries(Object.entries(top.properties).filter(([, v]) => v !== undefined)),
      };
      for (const p of tsTop) {
        if (!wrapper.properties[p.name]) errors.push(`${kind}.${p.name}: in TS, not in the CRD`);
      }
      for (const [name, sub] of Object.entries(wrapper.properties)) {
        const p = tsTop.find((x) => x.name === name);
        if (!p) {
          errors.push(`${kind}.${name}: in the CRD, missing in TS`);
          continue;
        }
        const optional = (p.flags & ts.SymbolFlags.Optional) !== 0;
        if (optional === wrapper.required.includes(name))
          errors.push(`${kind}.${name}: required marker differs`);
        compare(checker, checker.getTypeOfSymbol(p), sub, `${kind}.${name}`, errors);
      }
      assert.deepEqual(errors, []);
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
