import { useState } from 'preact/hooks';
import { toApiError } from '../api/client';

/**
 * Asks for the admin key and checks it against the management API before keeping it. The key printed by
 * the first `edgefleet up` / `edgefleet server` start (also in `<home>/admin-key`).
 */
export function LoginPage({ onLogin, notice }: { onLogin: (key: string) => void; notice?: string }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const candidate = key.trim();
    if (!candidate) {
      setError('Paste the admin key first.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const response = await fetch('/api/v1/sites', {
        headers: { authorization: `Bearer ${candidate}` },
        cache: 'no-store',
      });
      if (response.ok) {
        onLogin(candidate);
        return;
      }
      const problem = await toApiError(response);
      setError(
        response.status === 403
          ? `This key may not manage the fleet: the dashboard needs an admin key (${problem.message}).`
          : response.status === 401
            ? `The server refused this key: ${problem.message}`
            : `The server answered ${response.status}: ${problem.message}`,
      );
    } catch (caught) {
      setError(`Cannot reach the server: ${caught instanceof Error ? caught.message : String(caught)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login" id="main">
      <form class="card login-card" onSubmit={submit} data-testid="login-form">
        <h1>EdgeFleet</h1>
        <p class="muted">
          Paste the admin key that <code>edgefleet up</code> printed on its first start (it is also in{' '}
          <code>~/.edgefleet/admin-key</code>).
        </p>
        {notice && <p class="note">{notice}</p>}
        <label for="admin-key">Admin key</label>
        <input
          id="admin-key"
          type="password"
          autoComplete="off"
          spellcheck={false}
          value={key}
          onInput={(e) => setKey(e.currentTarget.value)}
          placeholder="ef_admin_…"
          autoFocus
        />
        {error && (
          <p class="note note-error" role="alert" data-testid="login-error">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Checking…' : 'Log in'}
        </button>
      </form>
    </main>
  );
}
