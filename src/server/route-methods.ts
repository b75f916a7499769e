import type { FastifyInstance } from 'fastify';
import FindMyWay, { type HTTPMethod } from 'find-my-way';

/**
 * The methods the app's routes answer at a concrete path, so that a request for a path some
 * route has, with a method it does not take (a browser's GET of /v1/infer), is told which
 * methods to use (405 with `Allow`) instead of that there is no such route. The routes are
 * collected as they are added into a router of their own (Fastify's does not say what other
 * methods a path has); it is only asked when no route matched.
 */
export function routeMethods(app: FastifyInstance): (path: string) => string[] {
  const router = FindMyWay();
  const methods = new Set<HTTPMethod>();
  const added = new Set<string>();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat() as HTTPMethod[]) {
      // HEAD routes mirror GET ones; OPTIONS is not an API method here.
      if (method === 'HEAD' || method === 'OPTIONS' || added.has(`${method} ${route.url}`)) continue;
      added.add(`${method} ${route.url}`);
      methods.add(method);
      router.on(method, route.url, () => undefined);
    }
  });
  return (path) => [...methods].filter((m) => router.find(m, path) !== null);
}
