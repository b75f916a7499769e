import { useState } from 'preact/hooks';
import { ApiError, ConnectionLost, get } from '../api.js';
import type { Session } from '../session.js';

/** Paste an API key or the admin token once; it is kept in this tab's sessionStorage only. */
export function SignIn({ onSignedIn, notice }: { onSignedIn: (token: string, s: Session) => void; notice?: string }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>(notice);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const t = token.trim();
    if (!t) {
      setError('Paste an API key (mg_…) or the admin token first.');
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const s = await get<Session>('/v1/whoami', { token: t });
      onSignedIn(t, s);
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? 'That token is not valid here: it is not this server’s admin token or an active API key (revoked or expired keys stop working). Check which server you opened and paste the token again.'
          : err instanceof ConnectionLost
            ? 'The server is not answering. Check that modelgate serve is running, then try again.'
            : (err as Error).message,
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>modelgate console</h1>
      <form onSubmit={(e) => void submit(e)}>
        <label for="token">API key or admin token</label>
        <input id="token" name="token" type="password" autoComplete="off" spellcheck={false} value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} autoFocus />
        <p class="hint">Kept in this browser tab only (sessionStorage) and sent as a bearer token. A read-scope key sees everything it may read; actions need the admin scope.</p>
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
