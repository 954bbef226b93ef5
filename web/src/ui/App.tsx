import { useEffect, useState } from "preact/hooks";
import { fetchJSON } from "../api/client";
import type { Tokens } from "../api/types";
import { Session } from "../auth/session";
import { AuthScreen } from "./AuthScreen";
import { ChatScreen } from "./ChatScreen";

// webLocks serializes token refreshes across tabs. Where the Web Locks API is
// missing (it exists in every current browser), a tab-local queue.
function webLocks() {
  if (navigator.locks) {
    return {
      request: <T,>(name: string, fn: () => Promise<T>) => navigator.locks.request(name, fn) as Promise<T>,
    };
  }
  let tail: Promise<unknown> = Promise.resolve();
  return {
    request: <T,>(_: string, fn: () => Promise<T>) => {
      const next = tail.then(fn, fn);
      tail = next.catch(() => undefined);
      return next;
    },
  };
}

export const session = new Session({
  storage: localStorage,
  locks: webLocks(),
  refresh: (refresh_token) => fetchJSON<Tokens>("POST", "/api/v1/auth/refresh", { refresh_token }),
  now: Date.now,
});

export function App() {
  const [stored, setStored] = useState(() => session.current());
  useEffect(() => {
    const off = session.onChange(() => setStored(session.current()));
    const onStorage = (e: StorageEvent) => session.storageChanged(e.key);
    window.addEventListener("storage", onStorage);
    return () => {
      off();
      window.removeEventListener("storage", onStorage);
    };
  }, []);

  // Refresh a little before the access token expires. Every tab schedules
  // it; the lock in Session makes only one of them ask the server.
  const expiresAt = stored?.expiresAt;
  useEffect(() => {
    if (expiresAt === undefined) return;
    const t = setTimeout(
      () => {
        session.accessToken().catch(() => undefined);
      },
      Math.max(0, expiresAt - Date.now() - 60_000 + 1000),
    );
    return () => clearTimeout(t);
  }, [expiresAt]);

  const me = stored?.user;
  if (!me) return <AuthScreen session={session} />;
  return <ChatScreen key={me.id} session={session} me={me} />;
}
