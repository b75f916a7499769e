import type { FastifyTypeProvider } from 'fastify';
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';

/**
 * A Fastify type provider that gives each handler its request types (body, params, query)
 * from the route's JSON schemas, so a schema and the TypeScript type its handler sees cannot
 * drift. Replies are left untyped here: Fastify serialises them by their response schema at
 * run time, and the services' own return types already describe them.
 *
 * `app.withTypeProvider<SchemaTypes>()` at the top of a routes plugin, then routes without
 * hand-written generics.
 */
export interface SchemaTypes extends FastifyTypeProvider {
  validator: this['schema'] extends JSONSchema ? FromSchema<this['schema']> : unknown;
  serializer: unknown;
}
