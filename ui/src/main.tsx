import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { forgetToken, get, onConnection, onUnauthorized, serverUp, storedToken, storeToken } from './api.js';
import { AccessPage } from './pages/access.js';
import { DecisionsPage } from './pages/decisions.js';
import { ModelPage } from './pages/model.js';
import { ModelsPage } from './pages/models.js';
import { MonitoringPage } from './pages/monitoring.js';
import { RolloutPage } from './pages/rollout.js';
import { SignIn } from './pages/signin.js';
import { href, useRoute } from './router.js';
import { isAdmin, SessionContext, type Session } from './session.js';
import './styles.css';

/** While the server does not answer: say so, and check every 2 s until it does (pages then reload). */
function ConnectionBanner() {
  const [down, setDown] = useState(false);
  useEffect(() => onConnection((up) => setDown(!up)), []);
  useEffect(() => {
    if (!down) return;
    const t = setInterval(() => void serverUp(), 2000);
    return () => clearInterval(t);
  }, [down]);
  return down ? (
    <div class="banner" role="alert" data-testid="connection-lost">
      Lost the connection to the server. Retrying every 2 seconds; the page recovers on its own when the server is back.
    </div>
  ) : null;
}

const TITLES: Record<string, string> = { models: 'Models', rollout: 'Rollout', monitoring: 'Monitoring', decisions: 'Decisions', access: 'Access and webhooks' };

/**
 * On every page change: the tab's title names the page, and focus moves to the content, so
 * keyboard and screen-reader users start at the new page instead of on the link they used.
 */
function useAnnouncePage(route: { page: string; arg?: string }): void {
  const first = useRef(true);
  useEffect(() => {
    document.title = `${[route.arg, TITLES[route.page] ?? 'Not found'].filter(Boolean).join(' · ')} — modelgate`;
    if (first.current) {
      first.current = false;
      return;
    }
    document.getElementById('content')?.focus();
  }, [route.page, route.arg]);
}

function Page() {
  const route = useRoute();
  useAnnouncePage(route);
  switch (route.page) {
    case 'models':
      return route.arg ? <ModelPage name={route.arg} /> : <ModelsPage />;
    case 'rollout':
      return route.arg ? <RolloutPage name={route.arg} /> : <ModelsPage />;
    case 'monitoring':
      return route.arg ? <MonitoringPage name={route.arg} /> : <ModelsPage />;
    case 'decisions':
      return <DecisionsPage name={route.arg} />;
    case 'access':
      return <AccessPage />;
    default:
      return (
        <main>
          <h1>Not found</h1>
          <p>
            No page here. Go to <a href={href('models')}>Models</a>.
          </p>
        </main>
      );
  }
}

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [checking, setChecking] = useState(() => storedToken() !== null);
  const [notice, setNotice] = useState<string>();
  const signOut = (why?: string) => {
    forgetToken();
    setSession(null);
    setNotice(why);
  };
  useEffect(() => {
    onUnauthorized((message) => signOut(`Signed out: the server refused the token (${message}).`));
    if (!storedToken()) return;
    get<Session>('/v1/whoami')
      .then(setSession)
      .catch(() => forgetToken())
      .finally(() => setChecking(false));
  }, []);
  if (checking) return <p class="boot">Checking your token…</p>;
  if (!session)
    return (
      <>
        <ConnectionBanner />
        <SignIn
          notice={notice}
          onSignedIn={(token, s) => {
            storeToken(token);
            setNotice(undefined);
            setSession(s);
          }}
        />
      </>
    );
  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#content">
        Skip to content
      </a>
      <header>
        <span class="brand">modelgate</span>
        <nav aria-label="main">
          <a href={href('models')}>Models</a>
          <a href={href('decisions')}>Decisions</a>
          {isAdmin(session) ? <a href={href('access')}>Access</a> : null}
        </nav>
        <span class="who" data-testid="who">
          {session.name ?? session.id} ({session.scopes.join(', ')})
        </span>
        <button type="button" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <ConnectionBanner />
      <div id="content" tabIndex={-1}>
        <Page />
      </div>
    </SessionContext.Provider>
  );
}

const root = document.getElementById('app')!;
// The placeholder in index.html says the console is loading; the app replaces it.
root.textContent = '';
render(<App />, root);
