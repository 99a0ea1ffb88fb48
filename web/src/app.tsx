import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { clearAdminKey, loadAdminKey, saveAdminKey } from './api/admin-key';
import { setUnauthorizedHandler } from './api/client';
import { DeploymentsPage } from './pages/deployments-page';
import { EndpointsPage } from './pages/endpoints-page';
import { FleetPage } from './pages/fleet-page';
import { KeysPage } from './pages/keys-page';
import { LoginPage } from './pages/login-page';
import { NodesPage } from './pages/nodes-page';
import { PlannerPage } from './pages/planner-page';
import { PlaygroundPage } from './pages/playground-page';
import { TrafficPage } from './pages/traffic-page';
import { type Route, useHashRoute } from './use-hash-route';

const pages: Record<Route, { label: string; view: () => JSX.Element }> = {
  fleet: { label: 'Fleet', view: FleetPage },
  nodes: { label: 'Nodes', view: NodesPage },
  deployments: { label: 'Deployments', view: DeploymentsPage },
  endpoints: { label: 'Endpoints', view: EndpointsPage },
  traffic: { label: 'Traffic', view: TrafficPage },
  keys: { label: 'Keys', view: KeysPage },
  planner: { label: 'Planner', view: PlannerPage },
  playground: { label: 'Playground', view: PlaygroundPage },
};

/** The dashboard: the login page until an admin key is accepted, then the navigation and one page. */
export function App() {
  const [key, setKey] = useState<string | null>(loadAdminKey);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const route = useHashRoute();

  useEffect(() => {
    setUnauthorizedHandler(() => {
      setNotice('The server no longer accepts the stored key: log in again.');
      setKey(null);
    });
  }, []);

  useEffect(() => {
    document.title = `${pages[route].label} · EdgeFleet`;
    // Moving to a page from the navigation puts the keyboard focus on its heading.
    if (key && document.activeElement?.closest('nav')) document.getElementById('page-title')?.focus();
  }, [route, key]);

  if (!key) {
    return (
      <LoginPage
        notice={notice}
        onLogin={(accepted) => {
          saveAdminKey(accepted);
          setNotice(undefined);
          setKey(accepted);
        }}
      />
    );
  }

  const Page = pages[route].view;
  return (
    <div class="shell">
      <a
        class="skip"
        href="#main"
        onClick={(e) => (e.preventDefault(), document.getElementById('page-title')?.focus())}
      >
        Skip to content
      </a>
      <header class="topbar">
        <span class="brand">EdgeFleet</span>
        <nav aria-label="Pages">
          <ul>
            {(Object.keys(pages) as Route[]).map((name) => (
              <li key={name}>
                <a
                  href={`#/${name}`}
                  aria-current={name === route ? 'page' : undefined}
                  data-testid={`nav-${name}`}
                >
                  {pages[name].label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button
          type="button"
          class="link-button"
          onClick={() => {
            clearAdminKey();
            setKey(null);
          }}
        >
          Log out
        </button>
      </header>
      <main id="main" class="content">
        <Page key={route} />
      </main>
    </div>
  );
}
