// Chat wires the parts of a logged-in app together: the API, the synced
// store, the outbox, the event channel, and what the screen shows beside
// messages (who is typing, who is online, people's names).
import { Api } from "./api/client";
import type { ServerFrame } from "./api/events";
import type { Conversation, Message } from "./api/types";
import type { Session } from "./auth/session";
import { type ConnState, Realtime } from "./realtime/socket";
import { Outbox } from "./sync/outbox";
import { ChatStore } from "./sync/store";

export type Person = { id: number; username: string; display_name: string };

const typingShownFor = 6_000;

export class Chat {
  readonly api: Api;
  readonly store: ChatStore;
  readonly outbox: Outbox;
  readonly realtime: Realtime;
  conn: ConnState = "connecting";
  syncError = "";
  readonly people = new Map<number, Person>();
  readonly online = new Map<number, boolean>();
  // typing: conversation → user → when the notice expires.
  readonly typing = new Map<number, Map<number, number>>();
  // members: conversation → its members' ids, once fetched.
  private readonly members = new Map<number, number[]>();
  // peer: direct conversation → the other member, when known.
  readonly peer = {
    get: (id: number): number | undefined => this.members.get(id)?.find((m) => m !== this.me.id),
    set: (id: number, user: number): void => void this.members.set(id, [this.me.id, user]),
    has: (id: number): boolean => this.peer.get(id) !== undefined,
  };
  private membersAsked = new Set<number>();
  private peopleAsked = new Set<number>();
  private listeners = new Set<() => void>();
  private lastTypingSent = 0;

  constructor(
    session: Session,
    readonly me: Person,
  ) {
    this.api = new Api(session);
    this.people.set(me.id, me);
    this.store = new ChatStore(this.api, me.id);
    this.store.onChange(() => this.emit());
    this.outbox = new Outbox({
      post: (id, body, cmid) => this.api.postMessage(id, body, cmid),
      accepted: (m) => this.store.accept(m),
      storage: localStorage,
      storageKey: `parley.outbox.${me.id}`,
      newId: () => crypto.randomUUID(),
      now: Date.now,
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
      random: Math.random,
    });
    this.outbox.onChange(() => this.emit());
    this.realtime = new Realtime({
      ticket: async () => (await this.api.wsTicket()).ticket,
      onFrame: (f) => this.frame(f),
      onState: (s) => {
        this.conn = s;
        this.emit();
      },
      onLoginEnded: () => session.end(),
    });
  }

  start(): void {
    this.realtime.start();
    window.addEventListener("online", this.resumeOutbox);
    this.outbox.resume();
  }

  stop(): void {
    this.realtime.stop();
    window.removeEventListener("online", this.resumeOutbox);
  }

  private resumeOutbox = () => this.outbox.resume();

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }

  private frame(f: ServerFrame): void {
    switch (f.type) {
      case "hello":
      case "resync":
        this.resync();
        break;
      case "message.created":
      case "message.updated":
      case "message.deleted":
        this.clearTyping(f.conversation_id, -1);
        void this.store.messageEvent(f).catch(() => this.resync());
        break;
      case "conversation.joined":
        void this.store.joined(f.conversation_id).catch(() => this.resync());
        break;
      case "conversation.left":
        this.store.left(f.conversation_id);
        break;
      case "read.updated":
        this.store.readUpdated(f.conversation_id, f.seq);
        break;
      case "typing": {
        const m = this.typing.get(f.conversation_id) ?? new Map<number, number>();
        m.set(f.user_id, Date.now() + typingShownFor);
        this.typing.set(f.conversation_id, m);
        setTimeout(() => this.emit(), typingShownFor + 50);
        this.emit();
        break;
      }
      case "presence":
        this.online.set(f.user_id, f.online);
        this.emit();
        break;
      case "member.joined":
      case "member.left":
        break;
    }
  }

  // resync runs the full sync, again later if it fails.
  private resync(): void {
    this.store.sync().then(
      () => {
        this.syncError = "";
        for (const c of this.store.conversations.values()) this.learnPeer(c.meta);
        this.outbox.resume();
        this.emit();
      },
      () => {
        this.syncError = "Could not load your conversations. Retrying…";
        this.emit();
        setTimeout(() => this.resync(), 3000);
      },
    );
  }

  private clearTyping(conversationId: number, userId: number): void {
    const m = this.typing.get(conversationId);
    if (!m) return;
    if (userId < 0) m.clear();
    else m.delete(userId);
  }

  // typers lists who is typing in a conversation now.
  typers(conversationId: number): Person[] {
    const m = this.typing.get(conversationId);
    if (!m) return [];
    const now = Date.now();
    const out: Person[] = [];
    for (const [id, until] of m) {
      if (until > now && id !== this.me.id) out.push(this.person(id));
    }
    return out;
  }

  // send posts a message through the outbox. The others stop showing the
  // user as typing when it arrives, so the next keystroke tells them again.
  send(conversationId: number, body: string): void {
    this.outbox.send(conversationId, body);
    this.lastTypingSent = 0;
  }

  // sendTyping tells the others, at most every 3 s, that the user types.
  sendTyping(conversationId: number): void {
    const now = Date.now();
    if (now - this.lastTypingSent < 3000) return;
    this.lastTypingSent = now;
    this.realtime.send({ type: "typing", conversation_id: conversationId });
  }

  // person returns what is known of a user, fetching the rest.
  person(id: number): Person {
    const p = this.people.get(id);
    if (p) return p;
    if (!this.peopleAsked.has(id)) {
      this.peopleAsked.add(id);
      this.api.user(id).then(
        (u) => {
          this.people.set(u.id, u);
          this.online.set(u.id, u.online);
          this.emit();
        },
        () => this.peopleAsked.delete(id),
      );
    }
    return { id, username: `user${id}`, display_name: "…" };
  }

  // learnMembers fetches a conversation's members once: their names, who is
  // online, and for a direct conversation who the other person is.
  learnMembers(conversationId: number): void {
    if (this.membersAsked.has(conversationId)) return;
    this.membersAsked.add(conversationId);
    this.api.members(conversationId).then(
      (page) => {
        for (const m of page.items) {
          this.people.set(m.id, m);
          this.online.set(m.id, m.online);
        }
        // Kept whatever kind it is: the list may answer before the
        // conversation itself is known here.
        this.members.set(
          conversationId,
          page.items.map((m) => m.id),
        );
        this.emit();
      },
      () => this.membersAsked.delete(conversationId),
    );
  }

  private learnPeer(c: Conversation): void {
    if (c.kind === "direct" && !this.peer.has(c.id)) this.learnMembers(c.id);
  }

  // title names a conversation as the sidebar shows it.
  title(c: Conversation): string {
    if (c.kind === "channel") return `#${c.name ?? ""}`;
    const peer = this.peer.get(c.id);
    if (peer === undefined) {
      this.learnMembers(c.id);
      return "Direct message";
    }
    return this.person(peer).display_name;
  }

  // afterEdit applies the server's answer to an edit or delete.
  afterEdit(m: Message): void {
    this.store.replace(m);
  }
}
