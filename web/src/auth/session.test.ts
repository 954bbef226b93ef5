import { describe, expect, it } from "vitest";
import type { Tokens } from "../api/types";
import { type Locks, LoggedOutError, Session } from "./session";

// A login on a model of the server's refresh rule: each refresh token works
// once, and presenting a used one again ends the whole login.
class Login {
  private n = 0;
  current = "r0";
  revoked = false;
  refreshes = 0;

  async refresh(token: string): Promise<Tokens> {
    await new Promise((r) => setTimeout(r, 5)); // a round trip
    if (this.revoked || token !== this.current) {
      this.revoked = true; // reuse: the login ends
      throw Object.assign(new Error("The refresh token is invalid or expired."), { status: 401 });
    }
    this.refreshes++;
    this.n++;
    this.current = `r${this.n}`;
    return {
      access_token: `a${this.n}`,
      refresh_token: this.current,
      token_type: "Bearer",
      expires_in: 900,
      user: { id: 1, username: "alice", display_name: "Alice", created_at: "2026-01-01T00:00:00Z" },
    };
  }
}

// One storage shared by the tabs, as localStorage is.
function sharedStorage() {
  const m = new Map<string, string>();
  return {
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
  };
}

// An exclusive lock shared by the tabs, as the Web Locks API gives.
function sharedLocks(): Locks {
  const tails = new Map<string, Promise<unknown>>();
  return {
    request<T>(name: string, fn: () => Promise<T>): Promise<T> {
      const prev = tails.get(name) ?? Promise.resolve();
      const next = prev.then(fn, fn);
      tails.set(
        name,
        next.catch(() => undefined),
      );
      return next;
    },
  };
}

// noLocks is what tabs without coordination would do.
const noLocks: Locks = { request: (_, fn) => fn() };

function tabs(n: number, locks: Locks, login: Login, now: { t: number }) {
  const storage = sharedStorage();
  const deps = { storage, locks, refresh: (t: string) => login.refresh(t), now: () => now.t };
  const all = Array.from({ length: n }, () => new Session(deps));
  all[0]?.start({
    access_token: "a0",
    refresh_token: "r0",
    token_type: "Bearer",
    expires_in: 900,
    user: { id: 1, username: "alice", display_name: "Alice", created_at: "2026-01-01T00:00:00Z" },
  });
  return all;
}

describe("Session across tabs", () => {
  it("refreshes once when every tab finds the token about to expire", async () => {
    const login = new Login();
    const now = { t: 1_000_000 };
    const sessions = tabs(3, sharedLocks(), login, now);
    now.t += 850_000; // 50 s before expiry: every tab wants a fresh token
    const got = await Promise.all(sessions.map((s) => s.accessToken()));
    expect(got).toEqual(["a1", "a1", "a1"]);
    expect(login.refreshes).toBe(1);
    expect(login.revoked).toBe(false);
    expect(sessions[1]?.current()?.refresh).toBe("r1");
  });

  it("after a 401 uses the token another tab refreshed meanwhile", async () => {
    const login = new Login();
    const now = { t: 1_000_000 };
    const [a, b] = tabs(2, sharedLocks(), login, now);
    expect(await a?.refresh("a0")).toBe("a1");
    // b's request with a0 was refused; the tokens are new already.
    expect(await b?.refresh("a0")).toBe("a1");
    expect(login.refreshes).toBe(1);
  });

  it("without the lock, tabs race and the login ends (what the lock prevents)", async () => {
    const login = new Login();
    const now = { t: 1_000_000 };
    const sessions = tabs(2, noLocks, login, now);
    now.t += 850_000;
    const results = await Promise.allSettled(sessions.map((s) => s.accessToken()));
    expect(results.some((r) => r.status === "rejected")).toBe(true);
    expect(login.revoked).toBe(true);
  });

  it("a refused refresh logs every tab out", async () => {
    const login = new Login();
    login.revoked = true;
    const now = { t: 1_000_000 };
    const [a, b] = tabs(2, sharedLocks(), login, now);
    await expect(a?.refresh("a0")).rejects.toBeInstanceOf(LoggedOutError);
    expect(b?.current()).toBeNull();
    await expect(b?.accessToken()).rejects.toBeInstanceOf(LoggedOutError);
  });
});
