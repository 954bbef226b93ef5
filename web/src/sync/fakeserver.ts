// FakeServer is an in-memory model of the server's side of the sync contract
// (issue 9, openapi.yaml): per-conversation seq and event_seq without holes,
// a changes feed that lists each message at its latest change, id-only
// events. The unit tests drive ChatStore against it; the browser tests drive
// the real app against the real server.
import type { Change, Conversation, Message } from "../api/types";
import type { SyncApi } from "./store";

type Conv = {
  meta: Omit<Conversation, "unread_count" | "read_seq">;
  messages: Message[];
  changes: Change[];
  members: Set<number>;
};

export type Frame = {
  type: "message.created" | "message.updated" | "message.deleted";
  conversation_id: number;
  message_id: number;
  seq: number;
  event_seq: number;
};

export class FakeServer {
  private convs = new Map<number, Conv>();
  private nextMessageId = 1;
  private nextConvId = 1;
  private clock = Date.parse("2026-01-01T00:00:00Z");
  // calls counts requests by kind, to check how much a sync costs.
  calls = new Map<string, number>();
  // listeners get every frame, as the event channel would deliver them.
  listeners: ((f: Frame) => void)[] = [];

  private tick(): string {
    this.clock += 1000;
    return new Date(this.clock).toISOString();
  }

  createConversation(members: number[], name = "general"): number {
    const id = this.nextConvId++;
    this.convs.set(id, {
      meta: {
        id,
        kind: "channel",
        name,
        topic: "",
        created_at: this.tick(),
        last_seq: 0,
        last_event_seq: 0,
        last_message_at: null,
      },
      messages: [],
      changes: [],
      members: new Set(members),
    });
    return id;
  }

  join(conv: number, user: number): void {
    this.must(conv).members.add(user);
  }
  leave(conv: number, user: number): void {
    this.must(conv).members.delete(user);
  }

  post(conv: number, sender: number, body: string): Message {
    const c = this.must(conv);
    const m: Message = {
      id: this.nextMessageId++,
      conversation_id: conv,
      seq: ++c.meta.last_seq,
      sender_id: sender,
      body,
      client_msg_id: null,
      created_at: this.tick(),
      edited_at: null,
      deleted_at: null,
    };
    c.messages.push(m);
    c.meta.last_message_at = m.created_at;
    this.change(c, m, "message.created");
    return m;
  }

  edit(conv: number, seq: number, body: string): void {
    const c = this.must(conv);
    const m = c.messages[seq - 1];
    if (!m || m.deleted_at) return;
    m.body = body;
    m.edited_at = this.tick();
    this.change(c, m, "message.updated");
  }

  remove(conv: number, seq: number): void {
    const c = this.must(conv);
    const m = c.messages[seq - 1];
    if (!m || m.deleted_at) return;
    m.body = "";
    m.deleted_at = this.tick();
    this.change(c, m, "message.deleted");
  }

  private change(c: Conv, m: Message, type: Change["type"]): void {
    const ch: Change = { event_seq: ++c.meta.last_event_seq, type, message_id: m.id, seq: m.seq };
    // The feed keeps only a message's latest change (the contract allows it).
    c.changes = c.changes.filter((x) => x.message_id !== m.id);
    c.changes.push(ch);
    const frame: Frame = {
      type,
      conversation_id: c.meta.id,
      message_id: m.id,
      seq: m.seq,
      event_seq: ch.event_seq,
    };
    for (const l of this.listeners) l(frame);
  }

  // state is what a member sees: the truth a synced client must equal.
  state(user: number): Map<number, Message[]> {
    const out = new Map<number, Message[]>();
    for (const c of this.convs.values()) {
      if (c.members.has(user)) out.set(c.meta.id, structuredClone(c.messages));
    }
    return out;
  }

  members(conv: number): Set<number> {
    return this.must(conv).members;
  }

  private must(id: number): Conv {
    const c = this.convs.get(id);
    if (!c) throw new Error(`no conversation ${id}`);
    return c;
  }

  // random, when set, makes every request take a few turns of the event
  // loop, so that changes commit while requests are in flight.
  random: (() => number) | null = null;

  private async count(kind: string): Promise<void> {
    this.calls.set(kind, (this.calls.get(kind) ?? 0) + 1);
    const turns = this.random ? Math.floor(this.random() * 4) : 0;
    for (let i = 0; i < turns; i++) await new Promise((r) => setTimeout(r, 0));
  }

  // api is the REST API as user sees it.
  api(user: number): SyncApi {
    const visible = (id: number): Conv => {
      const c = this.convs.get(id);
      if (!c?.members.has(user)) throw Object.assign(new Error("not found"), { status: 404 });
      return c;
    };
    const view = (c: Conv): Conversation => ({ ...structuredClone(c.meta), unread_count: 0, read_seq: 0 });
    const page = (items: Message[], hasMore: boolean) => ({
      items: structuredClone(items),
      has_more: hasMore,
    });
    return {
      listConversations: async (cursor) => {
        await this.count("listConversations");
        const after = cursor ? Number(cursor) : 0;
        const mine = [...this.convs.values()].filter((c) => c.members.has(user) && c.meta.id > after);
        const items = mine.slice(0, 2).map(view); // small pages, to exercise paging
        const more = mine.length > 2;
        return { items, has_more: more, next_cursor: more ? String(items.at(-1)?.id) : undefined };
      },
      getConversation: async (id) => {
        await this.count("getConversation");
        return view(visible(id));
      },
      latestMessages: async (id, limit) => {
        await this.count("latestMessages");
        const ms = visible(id).messages;
        return page(ms.slice(-limit), ms.length > limit);
      },
      messagesBefore: async (id, before, limit) => {
        await this.count("messagesBefore");
        const ms = visible(id).messages.filter((m) => m.seq < before);
        return page(ms.slice(-limit), ms.length > limit);
      },
      messagesAfter: async (id, after, limit) => {
        await this.count("messagesAfter");
        const ms = visible(id).messages.filter((m) => m.seq > after);
        return page(ms.slice(0, limit), ms.length > limit);
      },
      changes: async (id, after, limit) => {
        await this.count("changes");
        const chs = visible(id).changes.filter((ch) => ch.event_seq > after);
        return { items: structuredClone(chs.slice(0, limit)), has_more: chs.length > limit };
      },
      messagesByIds: async (ids) => {
        await this.count("messagesByIds");
        const out: Message[] = [];
        for (const c of this.convs.values()) {
          if (!c.members.has(user)) continue;
          for (const m of c.messages) if (ids.includes(m.id)) out.push(structuredClone(m));
        }
        return out.sort((a, b) => a.id - b.id);
      },
    };
  }
}
