import { useEffect, useState } from 'preact/hooks';

export const routes = [
  'fleet',
  'nodes',
  'deployments',
  'endpoints',
  'traffic',
  'keys',
  'planner',
  'playground',
] as const;
export type Route = (typeof routes)[number];

function parse(hash: string): Route {
  const name = hash.replace(/^#\/?/, '').split(/[/?]/)[0] ?? '';
  return (routes as readonly string[]).includes(name) ? (name as Route) : 'fleet';
}

/** The page named in the URL's hash (`#/fleet`, `#/nodes`, …); unknown hashes show the fleet. */
export function useHashRoute(): Route {
  const [route, setRoute] = useState<Route>(() => parse(location.hash));
  useEffect(() => {
    const onChange = (): void => setRoute(parse(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
