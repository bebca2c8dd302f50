/** Compares a TypeScript type with a CRD's OpenAPI schema, field by field (shared by the API type tests). */
import ts from 'typescript';

// Paths deliberately left loosely typed, with the reason.
export const OPAQUE: Record<string, string> = {
  'Workload.status.gateway':
    'Gateway API GatewayStatus embedded by compute but never written (datum-contract §4.1)',
};

// biome-ignore lint/suspicious/noExplicitAny: OpenAPI schema nodes
type Schema = any;

export function compare(
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

/** A kind's spec and status against the CRD's (apiVersion, kind and metadata are the runtime's). */
export function compareKind(checker: ts.TypeChecker, type: ts.Type, schema: Schema, kind: string): string[] {
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
    if (optional === wrapper.required.includes(name)) errors.push(`${kind}.${name}: required marker differs`);
    compare(checker, checker.getTypeOfSymbol(p), sub, `${kind}.${name}`, errors);
  }
  return errors;
}
