// Helpers of the browser tests: Debian's Chromium driven by playwright-core
// (which never downloads a browser of its own), the server under test that
// scripts/test-web.sh started (PARLEY_WEB_URL), its REST API called directly
// for the other side of a conversation, axe-core scans and screenshots.
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { expect } from "vitest";

export const baseURL = process.env.PARLEY_WEB_URL ?? "";
if (!baseURL) throw new Error("PARLEY_WEB_URL is not set: run the browser tests with scripts/test-web.sh");

export const artifacts = join(import.meta.dirname, "..", "test-results");
mkdirSync(join(artifacts, "screenshots"), { recursive: true });

// The flags that make Debian's Chromium run headless here (TOOLING.md).
const flags = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.PARLEY_CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: flags,
  });
}

export const desktop = { width: 1280, height: 800 };
export const phone = { width: 390, height: 844 };

export function newContext(browser: Browser, viewport = desktop): Promise<BrowserContext> {
  return browser.newContext({ baseURL, viewport, colorScheme: "light" });
}

// unique makes names that do not clash between runs on one database.
let counter = 0;
export function unique(prefix: string): string {
  counter++;
  return `${prefix}${Date.now().toString(36).slice(-5)}${counter}`;
}

export type Tokens = { access_token: string; refresh_token: string; user: { id: number; username: string } };

// api calls the REST API as a client other than the page would.
export async function api<T>(method: string, path: string, token?: string, body?: unknown): Promise<T> {
  const res = await fetch(baseURL + path, {
    method,
    headers: {
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

export const password = "correct horse battery";

export function register(username: string, displayName = username): Promise<Tokens> {
  return api("POST", "/api/v1/auth/register", undefined, { username, password, display_name: displayName });
}

export type Msg = {
  id: number;
  seq: number;
  body: string;
  deleted_at: string | null;
  edited_at: string | null;
};

export async function history(token: string, conversationId: number): Promise<Msg[]> {
  const page = await api<{ items: Msg[] }>(
    "GET",
    `/api/v1/conversations/${conversationId}/messages?limit=100`,
    token,
  );
  return page.items;
}

// login logs in through the form.
export async function login(page: Page, username: string): Promise<void> {
  await page.goto("/");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("navigation", { name: "Conversations" }).waitFor();
}

// open opens a conversation from the sidebar.
export async function open(page: Page, name: string): Promise<void> {
  await page.getByRole("navigation", { name: "Conversations" }).getByRole("link", { name }).click();
  await page.getByRole("heading", { level: 1, name }).waitFor();
}

// send types a message and sends it with Enter.
export async function send(page: Page, text: string): Promise<void> {
  const box = page.locator(".composer textarea");
  await box.fill(text);
  await box.press("Enter");
}

// messages lists what the page shows in the open conversation: each
// message's seq and body (or "(deleted)").
export async function shown(page: Page): Promise<string[]> {
  return page.locator(".messages li.msg[data-seq]").evaluateAll((els) =>
    els.map((el) => {
      const body = el.querySelector(".body");
      const text = el.classList.contains("deleted") ? "(deleted)" : (body?.firstChild?.textContent ?? "");
      return `${(el as HTMLElement).dataset.seq}:${text}${el.querySelector(".edited") ? " (edited)" : ""}`;
    }),
  );
}

export function serverView(msgs: Msg[]): string[] {
  return msgs.map(
    (m) =>
      `${m.seq}:${m.deleted_at ? "(deleted)" : m.body}${m.edited_at && !m.deleted_at ? " (edited)" : ""}`,
  );
}

// eventually retries check until it passes or timeout ms pass.
export async function eventually(check: () => Promise<void> | void, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

type AxeViolation = { id: string; impact: string; help: string; nodes: { target: string[] }[] };

// expectAccessible runs axe-core on the page and fails on any serious or
// critical violation (WCAG 2.x A and AA rules, and axe's best practices).
export async function expectAccessible(page: Page, screen: string): Promise<void> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    // biome-ignore lint/suspicious/noExplicitAny: axe is the global the script above defined
    const axe = (window as any).axe;
    const result = await axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    });
    return result.violations as AxeViolation[];
  });
  const bad = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(
    bad.map(
      (v) =>
        `${screen}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`,
    ),
  ).toEqual([]);
}

// screenshot saves the page under test-results/screenshots.
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(artifacts, "screenshots", `${name}.png`) });
}
