import { describe, expect, it } from "vitest";
import type { Message } from "../api/types";
import { FakeServer, type Frame } from "./fakeserver";
import { ChatStore, newer } from "./store";

const alice = 1;
const bob = 2;

// mulberry32: a small seeded generator, so a failing seed can be replayed.
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const settle = () => new Promise((r) => setTimeout(r, 5));

// expectConverged checks that every loaded conversation holds exactly the
// server's messages from its oldest loaded one on, and that the store lists
// exactly the conversations the user is a member of.
function expectConverged(store: ChatStore, server: FakeServer, user: number, label: string) {
  const truth = server.state(user);
  expect([...store.conversations.keys()].sort(), `${label}: conversations`).toEqual([...truth.keys()].sort());
  for (const [id, msgs] of truth) {
    const c = store.conversations.get(id);
    if (!c?.messages) continue;
    const want = msgs.filter((m) => m.seq >= c.loSeq);
    expect(store.messages(id), `${label}: messages of conversation ${id}`).toEqual(want);
    expect(c.hiSeq, `${label}: hiSeq of ${id}`).toBe(msgs.length);
  }
}

describe("ChatStore", () => {
  it("loads the latest 15 messages, then older pages", async () => {
    const server = new FakeServer();
    const conv = server.createConversation([alice, bob]);
    for (let i = 1; i <= 130; i++) server.post(conv, bob, `m${i}`);
    const store = new ChatStore(server.api(alice), alice);
    await store.sync();
    await store.open(conv);
    expect(store.messages(conv).map((m) => m.seq)).toEqual(Array.from({ length: 15 }, (_, i) => 116 + i));
    await store.loadOlder(conv);
    expect(store.messages(conv)).toHaveLength(115);
    await store.loadOlder(conv);
    expect(store.messages(conv)).toHaveLength(130);
    expect(store.conversations.get(conv)?.hasOlder).toBe(false);
  });

  it("applies edits and deletions made while away, through the changes feed", async () => {
    const server = new FakeServer();
    const conv = server.createConversation([alice, bob]);
    for (let i = 1; i <= 20; i++) server.post(conv, bob, `m${i}`);
    const store = new ChatStore(server.api(alice), alice);
    await store.sync();
    await store.open(conv);
    // Away: no events reach the store.
    server.edit(conv, 18, "edited while away");
    server.remove(conv, 19);
    server.post(conv, bob, "new while away");
    server.edit(conv, 2, "older than the window");
    server.calls.clear();
    await store.sync();
    expectConverged(store, server, alice, "after reconnect");
    const shown = store.messages(conv);
    expect(shown.find((m) => m.seq === 18)?.body).toBe("edited while away");
    expect(shown.find((m) => m.seq === 19)?.deleted_at).not.toBeNull();
    expect(shown.at(-1)?.body).toBe("new while away");
    // Catching up cost one changes page and one batch fetch, not a reload.
    expect(server.calls.get("changes")).toBe(1);
    expect(server.calls.get("messagesByIds")).toBe(1);
    expect(server.calls.get("latestMessages")).toBeUndefined();
  });

  it("applies live events in order and catches up when one is skipped", async () => {
    const server = new FakeServer();
    const conv = server.createConversation([alice, bob]);
    server.post(conv, bob, "one");
    const store = new ChatStore(server.api(alice), alice);
    await store.sync();
    await store.open(conv);
    const frames: Frame[] = [];
    server.listeners.push((f) => frames.push(f));
    server.post(conv, bob, "two");
    server.post(conv, bob, "three");
    server.edit(conv, 1, "one, edited");
    // The frame of "two" is lost; "three" shows the gap.
    for (const f of frames.slice(1)) await store.messageEvent(f);
    expectConverged(store, server, alice, "after a skipped event");
    // A frame arriving late, after the catch-up, changes nothing.
    await store.messageEvent(frames[0] as Frame);
    expectConverged(store, server, alice, "after a late event");
  });

  it("drops conversations left and adds those joined while away", async () => {
    const server = new FakeServer();
    const a = server.createConversation([alice, bob], "a");
    const b = server.createConversation([bob], "b");
    const store = new ChatStore(server.api(alice), alice);
    await store.sync();
    expect([...store.conversations.keys()]).toEqual([a]);
    server.leave(a, alice);
    server.join(b, alice);
    await store.sync();
    expect([...store.conversations.keys()]).toEqual([b]);
  });

  it("keeps the newest state of a message whatever order answers arrive in", () => {
    const base: Message = {
      id: 1,
      conversation_id: 1,
      seq: 1,
      sender_id: 1,
      body: "a",
      client_msg_id: null,
      created_at: "2026-01-01T00:00:00Z",
      edited_at: null,
      deleted_at: null,
    };
    const edited = { ...base, body: "b", edited_at: "2026-01-01T00:00:05Z" };
    const edited2 = { ...base, body: "c", edited_at: "2026-01-01T00:00:09.5Z" };
    const deleted = { ...base, body: "", deleted_at: "2026-01-01T00:00:07Z" };
    expect(newer(edited2, edited)).toBe(edited2);
    expect(newer(edited, edited2)).toBe(edited2);
    expect(newer(deleted, edited2)).toBe(deleted);
    expect(newer(edited2, deleted)).toBe(deleted);
    expect(newer(base, edited)).toBe(edited);
  });

  // The randomized convergence test: the client drops off at random moments
  // while another user posts, edits and deletes, with requests in flight as
  // changes commit; after each reconnect and sync it must equal the server.
  it("converges to the server's state over random disconnections", async () => {
    for (let seed = 1; seed <= 30; seed++) {
      const random = rng(seed);
      const server = new FakeServer();
      server.random = random;
      const convs = [
        server.createConversation([alice, bob], "x"),
        server.createConversation([alice, bob], "y"),
      ];
      for (const c of convs) for (let i = 0; i < 30; i++) server.post(c, bob, `seed message ${i}`);
      const store = new ChatStore(server.api(alice), alice);
      let connected = true;
      const inflight: Promise<unknown>[] = [];
      server.listeners.push((f) => {
        // A connected client gets events, sometimes late or twice.
        if (!connected) return;
        const deliver = () => inflight.push(store.messageEvent(f));
        if (random() < 0.2) setTimeout(deliver, 1);
        else deliver();
        if (random() < 0.05) deliver();
      });
      await store.sync();
      for (const c of convs) await store.open(c);
      if (random() < 0.5) await store.loadOlder(convs[0] as number);
      for (let step = 0; step < 60; step++) {
        const conv = convs[Math.floor(random() * convs.length)] as number;
        const last = server.state(bob).get(conv)?.length ?? 0;
        const r = random();
        if (r < 0.5) server.post(conv, bob, `s${seed} step ${step}`);
        else if (r < 0.75) server.edit(conv, 1 + Math.floor(random() * last), `edit ${step}`);
        else server.remove(conv, 1 + Math.floor(random() * last));
        if (random() < 0.1) {
          connected = !connected;
          if (connected) inflight.push(store.sync());
        }
        if (random() < 0.3) await settle();
      }
      connected = true;
      await Promise.all(inflight);
      await store.sync();
      await settle();
      if (process.env.SYNC_DEBUG) console.log(`seed ${seed} done`);
      try {
        expectConverged(store, server, alice, `seed ${seed}`);
      } catch (err) {
        throw new Error(
          `seed ${seed} did not converge (replay it with this seed): ${(err as Error).message}`,
        );
      }
    }
  }, 60_000);
});
