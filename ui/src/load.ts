import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ConnectionLost, onConnection } from './api.js';

export interface Loaded<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * Data for a page: loaded when `key` changes, again every `refreshMs` when given, and again
 * when the server comes back after a lost connection. A stale answer never overwrites a newer one.
 */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, key: unknown[], refreshMs?: number): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const latest = useRef(0);
  useEffect(() => {
    const ctl = new AbortController();
    const n = ++latest.current;
    setState((s) => ({ ...s, loading: true }));
    load(ctl.signal).then(
      (data) => n === latest.current && setState({ data, loading: false }),
      (error: Error) => {
        if (ctl.signal.aborted || n !== latest.current) return;
        // A lost connection keeps what the page showed; the banner says so.
        setState((s) => ({ data: error instanceof ConnectionLost ? s.data : undefined, error, loading: false }));
      },
    );
    return () => ctl.abort();
  }, [...key, tick]);
  useEffect(() => onConnection((up) => up && reload()), [reload]);
  useEffect(() => {
    if (!refreshMs) return;
    const t = setInterval(reload, refreshMs);
    return () => clearInterval(t);
  }, [refreshMs, reload]);
  return { ...state, reload } as Loaded<T>;
}
