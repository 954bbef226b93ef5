// The page stays right across a lost network, a lost answer and a token
// refresh shared by two tabs.
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  api,
  eventually,
  history,
  launch,
  login,
  newContext,
  open,
  register,
  screenshot,
  send,
  serverView,
  shown,
  type Tokens,
  unique,
} from "./harness";

let browser: Browser;
beforeAll(async () => {
  browser = await launch();
});
afterAll(async () => {
  await browser?.close();
});

type Msg = { id: number; seq: number };

// setup makes alice and bob, members of a new channel with a few messages.
async function setup(): Promise<{ alice: Tokens; bob: Tokens; channel: string; id: number; bobMsgs: Msg[] }> {
  const alice = await register(unique("alice"), "Alice");
  const bob = await register(unique("bob"), "Bob");
  const channel = unique("sync");
  const ch = await api<{ id: number }>("POST", "/api/v1/channels", alice.access_token, { name: channel });
  await api("PUT", `/api/v1/channels/${ch.id}/members/me`, bob.access_token);
  const bobMsgs: Msg[] = [];
  for (let i = 1; i <= 6; i++) {
    const who = i % 2 ? bob : alice;
    const m = await api<Msg>("POST", `/api/v1/conversations/${ch.id}/messages`, who.access_token, {
      body: `before ${i}`,
    });
    if (who === bob) bobMsgs.push(m);
  }
  return { alice, bob, channel, id: ch.id, bobMsgs };
}

describe("sync", () => {
  it("a page taken offline while the other user posts, edits and deletes shows exactly the server's state once back", async () => {
    const { alice, bob, channel, id, bobMsgs } = await setup();
    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    await login(page, alice.user.username);
    await open(page, channel);
    await eventually(async () =>
      expect(await shown(page)).toEqual(serverView(await history(bob.access_token, id))),
    );

    await ctx.setOffline(true);
    await expect.poll(() => page.locator(".conn").textContent()).toContain("Offline");
    const [m1, m3, m5] = bobMsgs as [Msg, Msg, Msg];
    const bobApi = (method: string, path: string, body?: unknown) =>
      api(method, path, bob.access_token, body);
    await bobApi("PATCH", `/api/v1/messages/${m1.id}`, { body: "before 1, edited while alice was away" });
    await bobApi("DELETE", `/api/v1/messages/${m3.id}`);
    await bobApi("POST", `/api/v1/conversations/${id}/messages`, { body: "posted while away" });
    const late = await bobApi("POST", `/api/v1/conversations/${id}/messages`, {
      body: "posted, then edited",
    });
    await bobApi("PATCH", `/api/v1/messages/${(late as Msg).id}`, {
      body: "posted, then edited, while away",
    });
    await bobApi("PATCH", `/api/v1/messages/${m5.id}`, { body: "edited twice: one" });
    await bobApi("PATCH", `/api/v1/messages/${m5.id}`, { body: "edited twice: two" });
    // Nothing of it reaches an offline page.
    await new Promise((r) => setTimeout(r, 500));
    expect(await shown(page)).not.toContain(
      `${(late as Msg & { seq: number }).seq}:posted, then edited, while away`,
    );
    await screenshot(page, "offline-desktop");

    await ctx.setOffline(false);
    await expect.poll(() => page.locator(".conn").textContent()).toContain("Connected");
    const truth = serverView(await history(bob.access_token, id));
    await eventually(async () => expect(await shown(page)).toEqual(truth));
    expect(truth).toContain("1:before 1, edited while alice was away (edited)");
    expect(truth).toContain("3:(deleted)");
    await ctx.close();
  });

  it("a send whose answer is lost is retried with the same client_msg_id and shown once", async () => {
    const { alice, channel, id } = await setup();
    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    await login(page, alice.user.username);
    await open(page, channel);

    // First attempt: the server stores it, the answer is lost. Second: the
    // request never leaves. Third: goes through and gets the stored one.
    let attempt = 0;
    const ids: string[] = [];
    await page.route(`**/api/v1/conversations/${id}/messages`, async (route) => {
      if (route.request().method() !== "POST") return route.continue();
      attempt++;
      ids.push(JSON.parse(route.request().postData() ?? "{}").client_msg_id);
      if (attempt === 1) {
        await route.fetch();
        return route.abort("connectionreset");
      }
      if (attempt === 2) return route.abort("internetdisconnected");
      return route.continue();
    });
    await send(page, "sent through a bad network");
    await page.getByText("Not sent yet, retrying.").waitFor();
    await screenshot(page, "retrying-desktop");
    await eventually(async () => {
      expect(attempt).toBeGreaterThanOrEqual(3);
      expect(await page.locator(".msg.pending").count()).toBe(0);
    }, 20_000);
    expect(new Set(ids).size).toBe(1);
    const stored = (await history(alice.access_token, id)).filter(
      (m) => m.body === "sent through a bad network",
    );
    expect(stored).toHaveLength(1);
    const onPage = (await shown(page)).filter((s) => s.endsWith(":sent through a bad network"));
    expect(onPage).toEqual([`${stored[0]?.seq}:sent through a bad network`]);
    await ctx.close();
  });

  it("two tabs of one user stay logged in across a token refresh, and both log out together", async () => {
    const { alice, bob, channel, id } = await setup();
    const ctx = await newContext(browser);
    // A fake clock lets the test reach the refresh time without waiting 14
    // minutes; the server's clock is real, so the tokens it checks are real.
    await ctx.clock.install();
    const tab1 = await ctx.newPage();
    await login(tab1, alice.user.username);
    await open(tab1, channel);
    const tab2 = await ctx.newPage();
    await tab2.goto(`/c/${id}`);
    await tab2.getByRole("heading", { level: 1, name: `#${channel}` }).waitFor();
    const stored = () =>
      tab1.evaluate(
        () => JSON.parse(localStorage.getItem("parley.session") ?? "null")?.refresh as string | undefined,
      );
    const before = await stored();

    // Both tabs reach the moment to refresh at once.
    await ctx.clock.fastForward("14:30");
    await eventually(async () => expect(await stored()).not.toBe(before));
    // A race would have presented one refresh token twice, which ends the
    // login on the server: both tabs would be logged out.
    await new Promise((r) => setTimeout(r, 1000));
    for (const tab of [tab1, tab2]) {
      expect(await tab.getByRole("navigation", { name: "Conversations" }).count()).toBe(1);
    }
    // The login is alive on the server: a ticket needs an active login.
    const access = await tab2.evaluate(
      () => JSON.parse(localStorage.getItem("parley.session") ?? "null")?.access,
    );
    await api("POST", "/api/v1/ws/tickets", access);
    // And the tabs keep working.
    await api("POST", `/api/v1/conversations/${id}/messages`, bob.access_token, { body: "still there?" });
    await tab2.locator(".messages .body", { hasText: "still there?" }).waitFor();

    // Log out in one tab: the other notices.
    await tab1.getByRole("button", { name: "Log out" }).click();
    await tab2.getByRole("button", { name: "Log in" }).waitFor();
    await ctx.close();
  });
});
