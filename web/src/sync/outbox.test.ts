import { describe, expect, it } from "vitest";
import { ApiError, NetworkError } from "../api/client";
import type { Message } from "../api/types";
import { Outbox, retryDelay } from "./outbox";

// A server that stores by client_msg_id as Parley does: the same id twice
// gives the first message back, never a second one.
class Server {
  stored = new Map<string, Message>();
  // failures: what the next attempts meet, in order.
  failures: ("lost-request" | "lost-answer" | "429" | "422" | "500")[] = [];

  async post(conversationId: number, body: string, clientMsgId: string): Promise<Message> {
    const f = this.failures.shift();
    if (f === "lost-request") throw new NetworkError();
    if (f === "429") throw new ApiError(429, "rate_limited", "Too many requests.", {}, 7);
    if (f === "500") throw new ApiError(500, "internal", "Something went wrong.");
    if (f === "422")
      throw new ApiError(422, "invalid", "body: must not be empty", { body: "must not be empty" });
    let m = this.stored.get(clientMsgId);
    if (!m) {
      m = {
        id: this.stored.size + 1,
        conversation_id: conversationId,
        seq: this.stored.size + 1,
        sender_id: 1,
        body,
        client_msg_id: clientMsgId,
        created_at: "2026-01-01T00:00:00Z",
        edited_at: null,
        deleted_at: null,
      };
      this.stored.set(clientMsgId, m);
    }
    if (f === "lost-answer") throw new NetworkError(); // stored, but the answer never came
    return m;
  }
}

function setup(server: Server) {
  const timers: { fn: () => void; ms: number }[] = [];
  const accepted: Message[] = [];
  let id = 0;
  const storage = new Map<string, string>();
  const outbox = new Outbox({
    post: (c, b, cm) => server.post(c, b, cm),
    accepted: (m) => accepted.push(m),
    storage: { getItem: (k) => storage.get(k) ?? null, setItem: (k, v) => void storage.set(k, v) },
    storageKey: "outbox",
    newId: () => `cm-${++id}`,
    now: () => 0,
    setTimer: (fn, ms) => {
      const t = { fn, ms };
      timers.push(t);
      return t;
    },
    clearTimer: (t) => {
      const i = timers.indexOf(t as (typeof timers)[0]);
      if (i >= 0) timers.splice(i, 1);
    },
    random: () => 0.5,
  });
  const fire = async () => {
    const t = timers.shift();
    t?.fn();
    await flush();
    return t?.ms;
  };
  return { outbox, timers, accepted, fire, storage };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

describe("Outbox", () => {
  it("retries a send whose answer was lost with the same client_msg_id, and stores it once", async () => {
    const server = new Server();
    server.failures = ["lost-answer", "lost-request"];
    const { outbox, accepted, fire } = setup(server);
    outbox.send(7, "hello");
    await flush();
    expect(outbox.pending(7)).toMatchObject([{ state: "waiting", attempts: 1 }]);
    await fire(); // the second attempt's request is lost too
    expect(outbox.pending(7)).toMatchObject([{ state: "waiting", attempts: 2 }]);
    await fire();
    expect(outbox.pending(7)).toEqual([]);
    expect(server.stored.size).toBe(1);
    expect(accepted.map((m) => m.body)).toEqual(["hello"]);
  });

  it("waits as long as Retry-After says when rate limited", async () => {
    const server = new Server();
    server.failures = ["429"];
    const { outbox, timers, fire } = setup(server);
    outbox.send(7, "hello");
    await flush();
    expect(timers[0]?.ms).toBe(7000);
    expect(outbox.pending(7)[0]?.error).toBe("Too many attempts. Try again in 7 seconds.");
    await fire();
    expect(outbox.pending(7)).toEqual([]);
  });

  it("stops on a refusal and says why; retry sends it again", async () => {
    const server = new Server();
    server.failures = ["422"];
    const { outbox, timers } = setup(server);
    outbox.send(7, " ");
    await flush();
    expect(timers).toHaveLength(0);
    expect(outbox.pending(7)).toMatchObject([{ state: "failed", error: "body: must not be empty" }]);
    outbox.retry(outbox.pending(7)[0]?.clientMsgId ?? "");
    await flush();
    expect(outbox.pending(7)).toEqual([]);
    expect(server.stored.size).toBe(1);
  });

  it("keeps unsent messages across a reload, with their client_msg_id", async () => {
    const server = new Server();
    server.failures = ["500"];
    const first = setup(server);
    first.outbox.send(7, "survives a reload");
    await flush();
    const again = new Outbox({
      post: (c, b, cm) => server.post(c, b, cm),
      accepted: () => undefined,
      storage: { getItem: (k) => first.storage.get(k) ?? null, setItem: () => undefined },
      storageKey: "outbox",
      newId: () => "other",
      now: () => 0,
      setTimer: () => 0,
      clearTimer: () => undefined,
      random: () => 0.5,
    });
    expect(again.pending(7)).toMatchObject([
      { clientMsgId: "cm-1", body: "survives a reload", state: "waiting" },
    ]);
    again.resume();
    await flush();
    expect([...server.stored.keys()]).toEqual(["cm-1"]);
  });

  it("backs off exponentially up to 30 s, with jitter", () => {
    expect(retryDelay(1, () => 0)).toBe(500);
    expect(retryDelay(1, () => 0.999)).toBeCloseTo(1000, -1);
    expect(retryDelay(4, () => 0.5)).toBe(6000);
    expect(retryDelay(20, () => 0.999)).toBeLessThanOrEqual(30_000);
  });
});
