import { useEffect, useState } from 'preact/hooks';

/** The page a hash names: #/models, #/models/churn, #/rollout/churn, #/monitoring/churn, #/decisions, #/access. */
export interface Route {
  page: string;
  arg?: string;
}

export function parseRoute(hash: string): Route {
  const [page = 'models', arg] = hash.replace(/^#\/?/, '').split('/');
  return { page: page || 'models', ...(arg ? { arg: decodeURIComponent(arg) } : {}) };
}

export const href = (page: string, arg?: string): string => `#/${page}${arg ? `/${encodeURIComponent(arg)}` : ''}`;

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    // The hash may have changed between the first render and this effect.
    on();
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
