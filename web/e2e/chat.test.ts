// Two people chat live in a channel and in a direct conversation, each in
// their own browser context; a reload keeps the session and the history.
// Each screen is scanned by axe-core and photographed at desktop and phone
// widths.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  desktop,
  eventually,
  expectAccessible,
  launch,
  login,
  newContext,
  open,
  phone,
  register,
  screenshot,
  send,
  shown,
  unique,
} from "./harness";

let browser: Browser;
beforeAll(async () => {
  browser = await launch();
});
afterAll(async () => {
  await browser?.close();
});

const messageText = (page: Page, text: string) => page.locator(".messages .body", { hasText: text });

describe("two people chatting", () => {
  it("register, create a channel, chat live in it and in a direct conversation, reload", async () => {
    const aliceName = unique("alice");
    const bobName = unique("bob");
    const channel = unique("general");
    await register(bobName, "Bob Builder");

    // Alice registers through the form.
    const aliceCtx = await newContext(browser);
    const alice = await aliceCtx.newPage();
    const errors: string[] = [];
    alice.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    alice.on("pageerror", (e) => errors.push(String(e)));
    await alice.goto("/");
    await expectAccessible(alice, "log in");
    await screenshot(alice, "login-desktop");
    await alice.getByRole("button", { name: "Create an account" }).click();
    await alice.getByLabel("Username").fill(aliceName);
    await alice.getByLabel("Display name").fill("Alice Liddell");
    await alice.getByLabel("Password").fill("short");
    await alice.getByRole("button", { name: "Create account" }).click();
    // The browser's own check stops a short password before it is sent.
    expect(await alice.getByLabel("Password").evaluate((el: HTMLInputElement) => el.validity.tooShort)).toBe(
      true,
    );
    await alice.getByLabel("Password").fill("correct horse battery");
    await alice.getByRole("button", { name: "Create account" }).click();
    await alice.getByRole("navigation", { name: "Conversations" }).waitFor();
    await expect.poll(() => alice.locator(".conn").textContent()).toContain("Connected");
    await expectAccessible(alice, "empty home");

    // A name already taken gets a clear message.
    const other = await (await newContext(browser)).newPage();
    await other.goto("/");
    await other.getByRole("button", { name: "Create an account" }).click();
    await other.getByLabel("Username").fill(bobName);
    await other.getByLabel("Password").fill("correct horse battery");
    await other.getByRole("button", { name: "Create account" }).click();
    await expect.poll(() => other.getByRole("alert").textContent()).toMatch(/taken/i);
    // And a wrong password on the login form too.
    await other.getByRole("button", { name: "Log in" }).last().click();
    await other.getByLabel("Username").fill(bobName);
    await other.getByLabel("Password").fill("not the password");
    await other.getByRole("button", { name: "Log in" }).first().click();
    await expect.poll(() => other.getByRole("alert").textContent()).toBe("Wrong username or password.");
    await other.context().close();

    // Alice creates a channel.
    await alice.getByRole("button", { name: "Create a channel" }).click();
    await expectAccessible(alice, "create channel dialog");
    await alice.getByLabel("Name").fill(channel);
    await alice.getByLabel("Topic").fill("Everything and nothing");
    await alice.getByRole("button", { name: "Create channel" }).click();
    await alice.getByRole("heading", { level: 1, name: `#${channel}` }).waitFor();

    // Bob logs in, finds it and joins.
    const bobCtx = await newContext(browser);
    const bob = await bobCtx.newPage();
    bob.on("pageerror", (e) => errors.push(String(e)));
    await login(bob, bobName);
    await bob.getByRole("button", { name: "Browse channels" }).click();
    await bob.getByLabel("Search channels").fill(channel);
    await bob.getByRole("button", { name: `Join #${channel}` }).click();
    await bob.getByRole("heading", { level: 1, name: `#${channel}` }).waitFor();
    await expect.poll(() => bob.locator(".conn").textContent()).toContain("Connected");

    // They talk, and each sees the other's words without reloading.
    await send(alice, "Hi Bob! Welcome to the channel.");
    await messageText(bob, "Hi Bob! Welcome to the channel.").waitFor();
    await send(bob, "Thanks Alice.\nGlad to be here.");
    await messageText(alice, "Glad to be here.").waitFor();
    for (let i = 1; i <= 3; i++) await send(alice, `Message number ${i}`);
    await messageText(bob, "Message number 3").waitFor();

    // Bob sees Alice typing.
    await alice.locator(".composer textarea").pressSequentially("I am typ");
    await expect.poll(() => bob.locator(".typing").textContent()).toContain("Alice Liddell is typing");
    await alice.locator(".composer textarea").fill("");

    // Alice edits and deletes her own messages; Bob sees both live.
    const row = alice.locator("li.msg", { hasText: "Message number 2" });
    await row.hover();
    await row.getByRole("button", { name: "Edit message" }).click();
    await alice.getByRole("textbox", { name: "Edit message" }).fill("Message number 2, corrected");
    await alice.getByRole("textbox", { name: "Edit message" }).press("Enter");
    await messageText(bob, "Message number 2, corrected").waitFor();
    alice.once("dialog", (d) => d.accept());
    const row3 = alice.locator("li.msg", { hasText: "Message number 3" });
    await row3.hover();
    await row3.getByRole("button", { name: "Delete message" }).click();
    await eventually(async () => expect((await shown(bob)).at(-1)).toMatch(/:\(deleted\)$/));
    expect(await shown(bob)).toEqual(await shown(alice));

    await expectAccessible(alice, "channel");
    await screenshot(alice, "channel-desktop");

    // A direct conversation: Bob writes to Alice, who is elsewhere.
    await alice.getByRole("link", { name: channel }).waitFor();
    await bob.getByRole("button", { name: "Message someone" }).first().click();
    await bob.getByLabel("Search people").fill(aliceName);
    await expectAccessible(bob, "message someone dialog");
    await bob.getByRole("button", { name: "Message Alice Liddell" }).click();
    await bob.getByRole("heading", { level: 1, name: "Alice Liddell" }).waitFor();
    await send(bob, "Psst, a private word?");
    // It appears in Alice's sidebar, with an unread badge, and opens.
    const dm = alice.getByRole("link", { name: /Bob Builder/ });
    await dm.waitFor();
    await expect.poll(() => dm.locator(".badge").textContent()).toContain("1");
    await dm.click();
    await messageText(alice, "Psst, a private word?").waitFor();
    await send(alice, "Of course.");
    await messageText(bob, "Of course.").waitFor();
    await expect.poll(() => dm.locator(".badge").count()).toBe(0);
    await screenshot(bob, "direct-desktop");
    await expectAccessible(alice, "direct conversation");

    // A reload keeps the session, the open conversation and its history.
    const before = await shown(alice);
    await alice.reload();
    await alice.getByRole("heading", { level: 1, name: "Bob Builder" }).waitFor();
    await eventually(async () => expect(await shown(alice)).toEqual(before));
    await open(alice, channel);
    await messageText(alice, "Message number 2, corrected").waitFor();

    // At phone width: the list, then one conversation at a time.
    await alice.setViewportSize(phone);
    await screenshot(alice, "channel-phone");
    await expectAccessible(alice, "channel on a phone");
    await alice.getByRole("button", { name: "Back to conversations" }).click();
    await alice.getByRole("navigation", { name: "Conversations" }).waitFor();
    await screenshot(alice, "conversations-phone");
    await alice.setViewportSize(desktop);

    // Dark theme follows the system setting.
    await alice.emulateMedia({ colorScheme: "dark" });
    await open(alice, channel);
    await screenshot(alice, "channel-desktop-dark");
    await expectAccessible(alice, "channel, dark");

    // Log out: back to the form, and a reload stays logged out.
    await alice.getByRole("button", { name: "Log out" }).click();
    await alice.getByRole("button", { name: "Log in" }).waitFor();
    await alice.reload();
    await alice.getByRole("button", { name: "Log in" }).waitFor();
    await alice.setViewportSize(phone);
    await screenshot(alice, "login-phone");

    expect(errors.filter((e) => !e.includes("401"))).toEqual([]);
    await aliceCtx.close();
    await bobCtx.close();
  });
});
