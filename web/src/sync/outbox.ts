// Outbox holds the messages the user sent that the server has not accepted
// yet. Each gets a client_msg_id when written, and every attempt sends the
// same one, so the server stores it once however many attempts reach it: a
// retry after a lost answer gets the first message back (200), not a copy.
// Failures that may pass (no network, 5xx, 429) are retried with backoff;
// a refusal (422, 404, 413…) stops and says why. Unsent messages are kept in
// storage, so a reload does not lose them.
import { ApiError, describe, NetworkError } from "../api/client";
import type { Message } from "../api/types";

export type Pending = {
  clientMsgId: string;
  conversationId: number;
  body: string;
  createdAt: number;
  // sending: a request is out; waiting: retrying at retryAt; failed: refused.
  state: "sending" | "waiting" | "failed";
  attempts: number;
  retryAt?: number;
  error?: string;
};

export type OutboxDeps = {
  post: (conversationId: number, body: string, clientMsgId: string) => Promise<Message>;
  accepted: (m: Message) => void;
  storage?: Pick<Storage, "getItem" | "setItem">;
  storageKey?: string;
  newId: () => string;
  now: () => number;
  setTimer: (fn: () => void, ms: number) => unknown;
  clearTimer: (t: unknown) => void;
  // random in [0, 1), for jitter.
  random: () => number;
};

const maxDelay = 30_000;

// retryDelay is the wait before attempt n+1 (n from 1): exponential from
// 1 s, at most 30 s, with jitter so that many clients do not retry in step.
export function retryDelay(n: number, random: () => number): number {
  const base = Math.min(maxDelay, 1000 * 2 ** (n - 1));
  return Math.round(base / 2 + (random() * base) / 2);
}

export class Outbox {
  private items: Pending[] = [];
  private timers = new Map<string, unknown>();
  private listeners = new Set<() => void>();

  constructor(private readonly deps: OutboxDeps) {
    const raw = deps.storage?.getItem(deps.storageKey ?? "");
    if (raw) {
      try {
        this.items = (JSON.parse(raw) as Pending[]).map((p) =>
          p.state === "sending" ? { ...p, state: "waiting" } : p,
        );
      } catch {
        this.items = [];
      }
    }
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  // pending lists the unsent messages of a conversation, oldest first.
  pending(conversationId: number): Pending[] {
    return this.items.filter((p) => p.conversationId === conversationId);
  }

  all(): readonly Pending[] {
    return this.items;
  }

  // resume sends everything not refused: at start, and when back online.
  resume(): void {
    for (const p of this.items) {
      if (p.state === "waiting") this.attempt(p);
    }
  }

  // send queues a new message and sends it.
  send(conversationId: number, body: string): Pending {
    const p: Pending = {
      clientMsgId: this.deps.newId(),
      conversationId,
      body,
      createdAt: this.deps.now(),
      state: "sending",
      attempts: 0,
    };
    this.items.push(p);
    this.changed();
    this.attempt(p);
    return p;
  }

  // retry sends a message again now.
  retry(clientMsgId: string): void {
    const p = this.items.find((x) => x.clientMsgId === clientMsgId);
    if (p && p.state !== "sending") this.attempt(p);
  }

  // discard drops an unsent message.
  discard(clientMsgId: string): void {
    this.stopTimer(clientMsgId);
    this.items = this.items.filter((x) => x.clientMsgId !== clientMsgId);
    this.changed();
  }

  private async attempt(p: Pending): Promise<void> {
    this.stopTimer(p.clientMsgId);
    p.state = "sending";
    p.attempts++;
    p.error = undefined;
    this.changed();
    try {
      const m = await this.deps.post(p.conversationId, p.body, p.clientMsgId);
      this.deps.accepted(m);
      this.items = this.items.filter((x) => x !== p);
      this.changed();
    } catch (err) {
      if (!this.items.includes(p)) return;
      if (transient(err)) {
        const wait = Math.max(retryDelay(p.attempts, this.deps.random), retryAfterMs(err));
        p.state = "waiting";
        p.retryAt = this.deps.now() + wait;
        p.error = describe(err);
        this.timers.set(
          p.clientMsgId,
          this.deps.setTimer(() => this.attempt(p), wait),
        );
      } else {
        p.state = "failed";
        p.error = describe(err);
      }
      this.changed();
    }
  }

  private stopTimer(id: string): void {
    const t = this.timers.get(id);
    if (t !== undefined) this.deps.clearTimer(t);
    this.timers.delete(id);
  }

  private changed(): void {
    this.deps.storage?.setItem(this.deps.storageKey ?? "", JSON.stringify(this.items));
    for (const fn of this.listeners) fn();
  }
}

// transient says whether an attempt may succeed later as it is.
function transient(err: unknown): boolean {
  if (err instanceof NetworkError) return true;
  if (err instanceof ApiError) return err.status >= 500 || err.status === 429;
  return false;
}

function retryAfterMs(err: unknown): number {
  return err instanceof ApiError ? err.retryAfter * 1000 : 0;
}
