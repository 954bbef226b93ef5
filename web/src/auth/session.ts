// The login, shared by every tab of the app. Tokens live in localStorage, so
// a reload and every other tab use them. Refresh tokens work once and a reused
// one ends the whole login, so tabs must never refresh at the same time: a
// refresh runs under an exclusive Web Lock, and a tab that gets the lock after
// another tab refreshed finds new tokens in storage and uses them instead.
// Every tab hears of a new login, new tokens or a logout through the storage
// event.
import type { Tokens, User } from "../api/types";

export type Stored = {
  access: string;
  refresh: string;
  expiresAt: number; // ms since the epoch, by this machine's clock
  user: User;
};

// LoggedOutError means the login ended: logged out here or in another tab,
// or the server refused the refresh token.
export class LoggedOutError extends Error {
  constructor() {
    super("You were logged out.");
  }
}

export interface Locks {
  request<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

export type SessionDeps = {
  storage: Pick<Storage, "getItem" | "setItem" | "removeItem">;
  locks: Locks;
  // refresh exchanges a refresh token at POST /auth/refresh.
  refresh: (refreshToken: string) => Promise<Tokens>;
  now: () => number;
};

const key = "parley.session";
const lockName = "parley.refresh";
// refreshEarly is how long before expiry a token is refreshed, so a request
// never leaves with one about to expire.
export const refreshEarly = 60_000;

export function toStored(t: Tokens, now: number): Stored {
  return {
    access: t.access_token,
    refresh: t.refresh_token,
    expiresAt: now + t.expires_in * 1000,
    user: t.user,
  };
}

export class Session {
  private listeners = new Set<() => void>();

  constructor(private readonly deps: SessionDeps) {}

  // current is the stored login, or null when logged out.
  current(): Stored | null {
    const raw = this.deps.storage.getItem(key);
    if (!raw) return null;
    try {
      return JSON.parse(raw) as Stored;
    } catch {
      return null;
    }
  }

  // start stores the tokens of a new login (register or log in).
  start(t: Tokens): void {
    this.write(toStored(t, this.deps.now()));
  }

  // end forgets the login in every tab.
  end(): void {
    this.deps.storage.removeItem(key);
    this.emit();
  }

  // accessToken returns a token good for at least refreshEarly, refreshing
  // first when the stored one is older.
  async accessToken(): Promise<string> {
    const s = this.current();
    if (!s) throw new LoggedOutError();
    if (s.expiresAt - this.deps.now() > refreshEarly) return s.access;
    return this.refresh(s.access);
  }

  // refresh returns an access token other than stale: the one another tab
  // stored already, or a new one from the server, fetched by this tab while
  // it holds the lock.
  refresh(stale: string): Promise<string> {
    return this.deps.locks.request(lockName, async () => {
      const s = this.current();
      if (!s) throw new LoggedOutError();
      if (s.access !== stale && s.expiresAt - this.deps.now() > refreshEarly) return s.access;
      let t: Tokens;
      try {
        t = await this.deps.refresh(s.refresh);
      } catch (err) {
        if ((err as { status?: number }).status === 401) {
          // The login ended on the server (logout elsewhere, or revoked).
          if (this.current()?.refresh === s.refresh) this.end();
          throw new LoggedOutError();
        }
        throw err;
      }
      const next = toStored(t, this.deps.now());
      this.write(next);
      return next.access;
    });
  }

  // onChange calls fn whenever the login changes, in this tab or another.
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  // storageChanged is the storage event's handler: another tab wrote.
  storageChanged(changedKey: string | null): void {
    if (changedKey === key || changedKey === null) this.emit();
  }

  private write(s: Stored): void {
    this.deps.storage.setItem(key, JSON.stringify(s));
    this.emit();
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }
}
