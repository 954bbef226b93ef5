// ChatStore holds what the app shows (the caller's conversations and the
// messages it has loaded of them) and keeps it equal to the server's state by
// the lossless-sync protocol (README, asyncapi.yaml):
//
//   - on every (re)connect and on resync: page GET /conversations; drop the
//     conversations that are gone, add the new ones, and for each loaded one
//     whose last_event_seq is past what this store applied, catch up;
//   - catching up pages GET /conversations/{id}/changes?after= and refetches
//     the messages it names that the store holds or that are newer;
//   - live message events apply when their event_seq is the next one, and
//     trigger a catch-up when one was skipped.
//
// Work on one conversation runs one step at a time (a per-conversation queue),
// so a live event and a catch-up never interleave.
import type { Change, Conversation, ConversationPage, Message, MessagePage } from "../api/types";

export interface SyncApi {
  listConversations(cursor?: string): Promise<ConversationPage>;
  getConversation(id: number): Promise<Conversation>;
  latestMessages(id: number, limit: number): Promise<MessagePage>;
  messagesBefore(id: number, before: number, limit: number): Promise<MessagePage>;
  messagesAfter(id: number, after: number, limit: number): Promise<MessagePage>;
  changes(id: number, after: number, limit: number): Promise<{ items: Change[]; has_more: boolean }>;
  messagesByIds(ids: number[]): Promise<Message[]>;
}

// ConversationState is one conversation as the store holds it.
export type ConversationState = {
  meta: Conversation;
  // messages by seq, contiguous from loSeq to hiSeq; null until loaded.
  messages: Map<number, Message> | null;
  loSeq: number;
  hiSeq: number;
  // eventSeq is the last change applied to messages.
  eventSeq: number;
  hasOlder: boolean;
  // rev changes whenever messages do, so views can skip unchanged work.
  rev: number;
};

export const firstPage = 15;
const changesPage = 500;
const historyPage = 100;

export class ChatStore {
  readonly conversations = new Map<number, ConversationState>();
  // synced turns true after the first full sync.
  synced = false;
  private queues = new Map<number, Promise<unknown>>();
  private listeners = new Set<() => void>();

  constructor(
    private readonly api: SyncApi,
    readonly userId: number,
  ) {}

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  protected emit(): void {
    for (const fn of this.listeners) fn();
  }

  // run queues fn behind the conversation's earlier work.
  private run<T>(id: number, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.queues.set(id, settled);
    void settled.then(() => {
      if (this.queues.get(id) === settled) this.queues.delete(id);
    });
    return next;
  }

  // sync brings every conversation to the server's state: call it on hello
  // and on resync.
  async sync(): Promise<void> {
    const seen = new Map<number, Conversation>();
    let cursor: string | undefined;
    do {
      const page = await this.api.listConversations(cursor);
      for (const c of page.items) seen.set(c.id, c);
      cursor = page.has_more ? page.next_cursor : undefined;
    } while (cursor);
    for (const id of [...this.conversations.keys()]) {
      if (!seen.has(id)) this.conversations.delete(id);
    }
    const work: Promise<unknown>[] = [];
    for (const meta of seen.values()) work.push(this.run(meta.id, () => this.applyMeta(meta)));
    this.synced = true;
    this.emit();
    await Promise.all(work);
  }

  // applyMeta takes a conversation as listed by the server and catches its
  // messages up if they are loaded.
  private async applyMeta(meta: Conversation): Promise<void> {
    const c = this.conversations.get(meta.id);
    if (!c) {
      this.conversations.set(meta.id, newState(meta));
      this.emit();
      return;
    }
    c.meta = mergeMeta(c.meta, meta);
    this.emit();
    if (c.messages && meta.last_event_seq > c.eventSeq) await this.catchUp(c);
  }

  // open loads the latest messages of a conversation, once. It need not
  // wait for the first sync: a page opened on a conversation's URL shows it
  // as soon as these two requests answer.
  open(id: number): Promise<void> {
    return this.run(id, async () => {
      if (this.conversations.get(id)?.messages) return;
      // Read the counter before the messages: any change after it is then
      // in the changes feed, and replaying one already seen is harmless.
      const meta = await this.api.getConversation(id);
      const page = await this.api.latestMessages(id, firstPage);
      let c = this.conversations.get(id);
      if (!c) {
        if (this.synced) return; // left meanwhile
        c = newState(meta);
        this.conversations.set(id, c);
      }
      c.meta = mergeMeta(c.meta, meta);
      c.messages = new Map();
      c.eventSeq = meta.last_event_seq;
      for (const m of page.items) c.messages.set(m.seq, m);
      c.loSeq = page.items[0]?.seq ?? meta.last_seq + 1;
      c.hiSeq = page.items.at(-1)?.seq ?? meta.last_seq;
      c.hasOlder = page.has_more;
      c.rev++;
      this.emit();
      if (c.meta.last_event_seq > c.eventSeq || c.hiSeq < c.meta.last_seq) await this.catchUp(c);
    });
  }

  // loadOlder loads the page before the oldest message held.
  loadOlder(id: number): Promise<void> {
    return this.run(id, async () => {
      const c = this.conversations.get(id);
      if (!c?.messages || !c.hasOlder) return;
      const page = await this.api.messagesBefore(id, c.loSeq, historyPage);
      if (this.conversations.get(id) !== c) return;
      for (const m of page.items) {
        if (m.seq < c.loSeq) c.messages.set(m.seq, m);
      }
      c.loSeq = Math.min(c.loSeq, page.items[0]?.seq ?? c.loSeq);
      c.hasOlder = page.has_more;
      c.rev++;
      this.emit();
    });
  }

  // catchUp pages the changes feed from eventSeq and applies every change to
  // the messages held or newer than them. Callers hold the queue.
  private async catchUp(c: ConversationState): Promise<void> {
    for (;;) {
      const page = await this.api.changes(c.meta.id, c.eventSeq, changesPage);
      const ids = page.items.filter((ch) => ch.seq >= c.loSeq).map((ch) => ch.message_id);
      const msgs = ids.length > 0 ? await this.api.messagesByIds(ids) : [];
      if (this.conversations.get(c.meta.id) !== c) return;
      for (const m of msgs) this.put(c, m);
      const last = page.items.at(-1);
      if (last) c.eventSeq = Math.max(c.eventSeq, last.event_seq);
      c.meta.last_event_seq = Math.max(c.meta.last_event_seq, c.eventSeq);
      this.emit();
      if (!page.has_more || !last) break;
    }
    // The feed names every message created after eventSeq, so the window is
    // contiguous now; page forward anyway should it not be.
    while (c.messages && c.hiSeq < c.meta.last_seq) {
      const page = await this.api.messagesAfter(c.meta.id, c.hiSeq, historyPage);
      for (const m of page.items) this.put(c, m);
      this.emit();
      if (!page.has_more || page.items.length === 0) break;
    }
  }

  // put stores a message in a loaded conversation, newest state winning.
  private put(c: ConversationState, m: Message): void {
    if (!c.messages || m.seq < c.loSeq) return;
    c.rev++;
    const had = c.messages.get(m.seq);
    c.messages.set(m.seq, had ? newer(had, m) : m);
    if (m.seq > c.hiSeq) {
      // Fill from hiSeq up only while contiguous: a hole is filled by catchUp.
      let hi = c.hiSeq;
      while (c.messages.has(hi + 1)) hi++;
      c.hiSeq = hi;
    }
    c.meta.last_seq = Math.max(c.meta.last_seq, m.seq);
    c.meta.last_message_at = maxTime(c.meta.last_message_at, m.created_at);
  }

  // accept applies a message this client just posted (the POST's answer).
  accept(m: Message): void {
    const c = this.conversations.get(m.conversation_id);
    if (!c) return;
    if (c.messages) {
      this.put(c, m);
    } else {
      c.meta.last_seq = Math.max(c.meta.last_seq, m.seq);
      c.meta.last_message_at = m.created_at;
    }
    this.emit();
  }

  // replace applies the answer to an edit or a delete this client made.
  replace(m: Message): void {
    const c = this.conversations.get(m.conversation_id);
    if (c?.messages?.has(m.seq)) {
      this.put(c, m);
      this.emit();
    }
  }

  // messageEvent applies message.created, .updated or .deleted.
  messageEvent(e: {
    conversation_id: number;
    message_id: number;
    seq: number;
    event_seq: number;
    type: string;
  }) {
    return this.run(e.conversation_id, async () => {
      const c = this.conversations.get(e.conversation_id);
      if (!c) return;
      if (!c.messages) {
        // Not loaded: only the list entry (order, unread badge) changes.
        if (e.type === "message.created" && e.seq > c.meta.last_seq)
          c.meta = await this.api.getConversation(c.meta.id);
        this.emit();
        return;
      }
      if (e.event_seq <= c.eventSeq) return; // applied already
      c.meta.last_event_seq = Math.max(c.meta.last_event_seq, e.event_seq);
      if (e.event_seq !== c.eventSeq + 1) {
        await this.catchUp(c); // one was skipped
        return;
      }
      if (e.seq >= c.loSeq) {
        const [m] = await this.api.messagesByIds([e.message_id]);
        if (this.conversations.get(c.meta.id) !== c) return;
        if (m) this.put(c, m);
      }
      c.eventSeq = e.event_seq;
      if (e.type === "message.created" && e.seq > c.hiSeq) await this.catchUp(c);
      this.emit();
    });
  }

  // joined adds a conversation the user became a member of.
  joined(id: number): Promise<void> {
    return this.run(id, async () => {
      const meta = await this.api.getConversation(id);
      if (!this.conversations.has(id)) this.conversations.set(id, newState(meta));
      this.emit();
    });
  }

  // left drops a conversation the user is no longer in.
  left(id: number): void {
    this.conversations.delete(id);
    this.emit();
  }

  // readMoved records the user's read marker, moved on any device.
  readUpdated(id: number, seq: number): void {
    const c = this.conversations.get(id);
    if (!c || seq <= c.meta.read_seq) return;
    c.meta.read_seq = seq;
    if (seq >= c.meta.last_seq) {
      c.meta.unread_count = 0;
    } else {
      void this.run(id, async () => {
        const meta = await this.api.getConversation(id);
        c.meta = mergeMeta(c.meta, meta);
        this.emit();
      });
    }
    this.emit();
  }

  // messages returns the loaded messages of a conversation, oldest first.
  messages(id: number): Message[] {
    const c = this.conversations.get(id);
    if (!c?.messages) return [];
    return [...c.messages.values()].sort((a, b) => a.seq - b.seq);
  }

  // ordered returns the conversations, most recently active first.
  ordered(): ConversationState[] {
    return [...this.conversations.values()].sort(
      (a, b) => activity(b.meta) - activity(a.meta) || b.meta.id - a.meta.id,
    );
  }
}

function newState(meta: Conversation): ConversationState {
  return { meta, messages: null, loSeq: 1, hiSeq: 0, eventSeq: 0, hasOlder: false, rev: 0 };
}

// mergeMeta keeps the counters that only grow at their highest, so an answer
// that left the server before a change applied here cannot move them back.
function mergeMeta(have: Conversation, got: Conversation): Conversation {
  return {
    ...got,
    last_seq: Math.max(have.last_seq, got.last_seq),
    last_event_seq: Math.max(have.last_event_seq, got.last_event_seq),
    read_seq: Math.max(have.read_seq, got.read_seq),
    unread_count: got.read_seq >= have.read_seq ? got.unread_count : have.unread_count,
    last_message_at: maxTime(have.last_message_at, got.last_message_at),
  };
}

function maxTime(a?: string | null, b?: string | null): string | null {
  if (!a) return b ?? null;
  if (!b) return a;
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

// newer picks the later state of one message: a deletion is final, and a
// later edit wins over an earlier one.
export function newer(a: Message, b: Message): Message {
  if (a.deleted_at) return a;
  if (b.deleted_at) return b;
  if (a.edited_at && (!b.edited_at || Date.parse(a.edited_at) > Date.parse(b.edited_at))) return a;
  return b;
}

function activity(c: Conversation): number {
  return Date.parse(c.last_message_at ?? c.created_at);
}
