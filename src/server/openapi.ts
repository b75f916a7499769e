/**
 * The route schemas are JSON Schema as Ajv checks them (draft 7), where `exclusiveMinimum: 0`
 * is a number. The document @fastify/swagger makes from them says OpenAPI 3.0.3, whose schema
 * dialect wants `minimum: 0, exclusiveMinimum: true` instead: client generators and validators
 * refuse the number form. This rewrites that one difference everywhere in a copy of the document
 * (its schemas may be the routes' own objects, which Ajv reads).
 */
export function asOpenApi30<T>(original: T): T {
  const doc = structuredClone(original);
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    for (const [bound, limit] of [
      ['exclusiveMinimum', 'minimum'],
      ['exclusiveMaximum', 'maximum'],
    ] as const) {
      if (typeof o[bound] === 'number') {
        o[limit] = o[bound];
        o[bound] = true;
      }
    }
    for (const v of Object.values(o)) visit(v);
  };
  visit(doc);
  return doc;
}
