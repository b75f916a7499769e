/** A route's own hooks of one kind as an array (Fastify takes one function, an array or none). */
export function routeHooks<T>(hooks: T | T[] | undefined): T[] {
  return hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks];
}
