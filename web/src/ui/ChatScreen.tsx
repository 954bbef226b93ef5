import { useEffect, useMemo, useReducer, useState } from "preact/hooks";
import type { User } from "../api/types";
import type { Session } from "../auth/session";
import { Chat } from "../chat";
import type { ConversationState } from "../sync/store";
import { ConversationView } from "./ConversationView";
import { BrowseChannels, NewChannel, NewDirect } from "./dialogs";
import { Icon, Logo } from "./icons";

// The open conversation lives in the URL (/c/ID), so a reload or a link
// opens it again.
function routeId(): number | null {
  const m = /^\/c\/(\d+)$/.exec(location.pathname);
  return m ? Number(m[1]) : null;
}

export function navigate(id: number | null) {
  const path = id === null ? "/" : `/c/${id}`;
  if (location.pathname !== path) history.pushState(null, "", path);
  window.dispatchEvent(new Event("parley:navigate"));
}

type DialogName = "browse" | "channel" | "direct" | null;

export function ChatScreen({ session, me }: { session: Session; me: User }) {
  const chat = useMemo(() => new Chat(session, me), [session, me.id]);
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const [openId, setOpenId] = useState(routeId);
  const [dialog, setDialog] = useState<DialogName>(null);

  useEffect(() => {
    const off = chat.onChange(() => rerender(0));
    chat.start();
    const onRoute = () => setOpenId(routeId());
    window.addEventListener("popstate", onRoute);
    window.addEventListener("parley:navigate", onRoute);
    return () => {
      off();
      chat.stop();
      window.removeEventListener("popstate", onRoute);
      window.removeEventListener("parley:navigate", onRoute);
    };
  }, [chat]);

  const open = openId === null ? undefined : chat.store.conversations.get(openId);
  const known = open !== undefined;
  useEffect(() => {
    if (openId === null) return;
    // Not waiting for the conversation list: the URL says which to show.
    chat.store.open(openId).catch(() => undefined);
    chat.learnMembers(openId);
  }, [chat, openId, known]);

  const totalUnread = chat.store
    .ordered()
    .reduce((n, c) => n + (c.meta.id === openId ? 0 : c.meta.unread_count), 0);
  useEffect(() => {
    document.title = totalUnread > 0 ? `(${totalUnread}) Parley` : "Parley";
  }, [totalUnread]);

  async function logout() {
    const s = session.current();
    chat.stop();
    session.end();
    if (s) {
      await fetch("/api/v1/auth/logout", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: s.refresh }),
      }).catch(() => undefined);
    }
    history.replaceState(null, "", "/");
  }

  const missing = openId !== null && !open && chat.store.synced;
  return (
    <div class={`shell ${openId !== null ? "has-open" : ""}`}>
      <Sidebar chat={chat} openId={openId} onDialog={setDialog} onLogout={logout} />
      <main class="pane" aria-label="Conversation">
        {open ? (
          <ConversationView key={open.meta.id} chat={chat} conv={open} />
        ) : (
          <div class="empty-pane">
            {missing ? (
              <>
                <h2>This conversation isn't available</h2>
                <p class="muted">You may have left it, or it never existed.</p>
                <button type="button" class="btn" onClick={() => navigate(null)}>
                  Back to your conversations
                </button>
              </>
            ) : openId !== null ? (
              <p class="muted">Loading…</p>
            ) : (
              <>
                <Logo />
                <h2>Pick a conversation</h2>
                <p class="muted">Or start one: browse channels, create one, or message someone.</p>
              </>
            )}
          </div>
        )}
      </main>
      {dialog === "browse" && <BrowseChannels chat={chat} onClose={() => setDialog(null)} />}
      {dialog === "channel" && <NewChannel chat={chat} onClose={() => setDialog(null)} />}
      {dialog === "direct" && <NewDirect chat={chat} onClose={() => setDialog(null)} />}
    </div>
  );
}

const connLabel = {
  connecting: "Connecting…",
  online: "Connected",
  reconnecting: "Reconnecting…",
  offline: "Offline",
} as const;

function Sidebar({
  chat,
  openId,
  onDialog,
  onLogout,
}: {
  chat: Chat;
  openId: number | null;
  onDialog: (d: DialogName) => void;
  onLogout: () => void;
}) {
  const convs = chat.store.ordered();
  const channels = convs.filter((c) => c.meta.kind === "channel");
  const directs = convs.filter((c) => c.meta.kind === "direct");
  return (
    <nav class="sidebar" aria-label="Conversations">
      <header class="side-head">
        <div class="brand">
          <Logo />
          <span>Parley</span>
        </div>
        <output class={`conn conn-${chat.conn}`} aria-live="polite" title={connLabel[chat.conn]}>
          <span class="dot" aria-hidden="true" />
          <span class="conn-text">{connLabel[chat.conn]}</span>
        </output>
      </header>
      {chat.syncError && (
        <p class="banner" role="status">
          {chat.syncError}
        </p>
      )}
      <div class="side-scroll">
        <Section title="Channels" onAdd={() => onDialog("channel")} addLabel="Create a channel">
          {channels.map((c) => (
            <ConvLink key={c.meta.id} chat={chat} c={c} active={c.meta.id === openId} />
          ))}
          <li>
            <button type="button" class="side-action" onClick={() => onDialog("browse")}>
              <Icon name="search" /> Browse channels
            </button>
          </li>
        </Section>
        <Section title="Direct messages" onAdd={() => onDialog("direct")} addLabel="Message someone">
          {directs.map((c) => (
            <ConvLink key={c.meta.id} chat={chat} c={c} active={c.meta.id === openId} />
          ))}
          <li>
            <button type="button" class="side-action" onClick={() => onDialog("direct")}>
              <Icon name="user" /> Message someone
            </button>
          </li>
        </Section>
      </div>
      <footer class="side-foot">
        <span class="avatar small" aria-hidden="true">
          {initial(chat.me.display_name)}
        </span>
        <span class="me">
          <strong>{chat.me.display_name}</strong>
          <span class="muted">@{chat.me.username}</span>
        </span>
        <button type="button" class="icon-btn" onClick={onLogout} aria-label="Log out" title="Log out">
          <Icon name="logout" />
        </button>
      </footer>
    </nav>
  );
}

function Section({
  title,
  onAdd,
  addLabel,
  children,
}: {
  title: string;
  onAdd: () => void;
  addLabel: string;
  children: preact.ComponentChildren;
}) {
  return (
    <section class="side-section">
      <div class="side-title">
        <h2>{title}</h2>
        <button type="button" class="icon-btn" onClick={onAdd} aria-label={addLabel} title={addLabel}>
          <Icon name="plus" />
        </button>
      </div>
      <ul>{children}</ul>
    </section>
  );
}

function ConvLink({ chat, c, active }: { chat: Chat; c: ConversationState; active: boolean }) {
  const title = chat.title(c.meta);
  const unread = active ? 0 : c.meta.unread_count;
  const peer = chat.peer.get(c.meta.id);
  const online = peer !== undefined && chat.online.get(peer);
  return (
    <li>
      <a
        href={`/c/${c.meta.id}`}
        class={`conv ${active ? "active" : ""} ${unread > 0 ? "unread" : ""}`}
        aria-current={active ? "page" : undefined}
        onClick={(e) => {
          if (e.metaKey || e.ctrlKey || e.shiftKey) return;
          e.preventDefault();
          navigate(c.meta.id);
        }}
      >
        {c.meta.kind === "channel" ? (
          <span class="conv-icon" aria-hidden="true">
            #
          </span>
        ) : (
          <span
            class={`presence ${online ? "on" : ""}`}
            role="img"
            aria-label={online ? "online" : "offline"}
          />
        )}
        <span class="conv-name">{c.meta.kind === "channel" ? c.meta.name : title}</span>
        {unread > 0 && (
          <span class="badge">
            {unread > 99 ? "99+" : unread}
            <span class="sr-only"> unread</span>
          </span>
        )}
      </a>
    </li>
  );
}

export function initial(name: string): string {
  return (name.trim()[0] ?? "?").toUpperCase();
}
