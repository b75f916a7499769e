import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

/** Who is signed in: what the token's scopes allow the page to offer. */
export interface Session {
  id: string;
  kind: string;
  name: string | null;
  scopes: string[];
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('no session');
  return s;
}

/** Admin actions (promote, roll back, stop, revoke…) are offered only to a token that may do them; the server checks again. */
export const isAdmin = (s: Session): boolean => s.scopes.includes('admin');
