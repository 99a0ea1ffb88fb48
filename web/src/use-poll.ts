import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Polled<T> {
  data: T | undefined;
  error: Error | undefined;
  /** Fetch again now (after a change the user made). */
  refresh: () => void;
}

/**
 * Calls `load` now and every `intervalMs` (0: once) while the component is shown and the tab visible;
 * keeps the last good value when a later call fails. `deps` restart it.
 */
export function usePoll<T>(
  load: (signal: AbortSignal) => Promise<T>,
  intervalMs: number,
  deps: unknown[],
): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let controller: AbortController | undefined;
    let loaded = false;
    const run = async (): Promise<void> => {
      // A hidden tab keeps what it has and asks again once it is looked at.
      if (loaded && document.hidden) {
        timer = setTimeout(() => void run(), intervalMs);
        return;
      }
      controller = new AbortController();
      try {
        const value = await loadRef.current(controller.signal);
        if (stopped) return;
        loaded = true;
        setData(value);
        setError(undefined);
      } catch (caught) {
        if (stopped) return;
        setError(caught instanceof Error ? caught : new Error(String(caught)));
      }
      if (!stopped && intervalMs > 0) timer = setTimeout(() => void run(), intervalMs);
    };
    void run();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      controller?.abort();
    };
  }, [...deps, intervalMs, tick]);

  const refresh = useCallback(() => setTick((n) => n + 1), []);
  return { data, error, refresh };
}
