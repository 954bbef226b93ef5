import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { describe } from "../api/client";
import type { Message } from "../api/types";
import type { Chat } from "../chat";
import type { ConversationState } from "../sync/store";
import { navigate } from "./ChatScreen";
import { Icon } from "./icons";
import { MessageList, type Row } from "./MessageList";

export function ConversationView({ chat, conv }: { chat: Chat; conv: ConversationState }) {
  const id = conv.meta.id;
  const [atBottom, setAtBottom] = useState(true);
  const [notice, setNotice] = useState("");
  const [visible, setVisible] = useState(document.visibilityState === "visible");
  const title = chat.title(conv.meta);

  useEffect(() => {
    const on = () => setVisible(document.visibilityState === "visible");
    document.addEventListener("visibilitychange", on);
    return () => document.removeEventListener("visibilitychange", on);
  }, []);

  // Move the read marker when the newest message is on screen.
  const hi = conv.hiSeq;
  const readSeq = conv.meta.read_seq;
  useEffect(() => {
    if (!conv.messages || !atBottom || !visible || hi <= readSeq) return;
    const t = setTimeout(() => {
      chat.store.readUpdated(id, hi);
      chat.api.markRead(id, hi).catch(() => undefined);
    }, 300);
    return () => clearTimeout(t);
  }, [chat, id, hi, readSeq, atBottom, visible, conv.messages]);

  // Rows are rebuilt only when the messages or the outbox change, not on
  // every render (typing notices, presence): with thousands loaded it shows.
  const pending = chat.outbox.pending(id);
  const pendingKey = pending.map((p) => `${p.clientMsgId}:${p.state}:${p.attempts}`).join();
  const rows = useMemo(() => {
    const messages = chat.store.messages(id);
    const sent = new Set(messages.map((m) => m.client_msg_id).filter(Boolean));
    const out: Row[] = [];
    let prev: Message | undefined;
    let prevDay = "";
    for (const m of messages) {
      const day = new Date(m.created_at).toDateString();
      out.push({
        key: `m${m.id}`,
        message: m,
        grouped: groups(prev, m, day === prevDay),
        newDay: day !== prevDay,
      });
      prev = m;
      prevDay = day;
    }
    for (const p of pending) {
      if (!sent.has(p.clientMsgId))
        out.push({ key: `p${p.clientMsgId}`, pending: p, grouped: false, newDay: false });
    }
    return out;
  }, [chat, id, conv.rev, pendingKey]);

  const typers = chat.typers(id);
  const leave = async () => {
    if (!confirm(`Leave ${title}?`)) return;
    try {
      await chat.api.leaveChannel(id);
      chat.store.left(id);
      navigate(null);
    } catch (err) {
      setNotice(describe(err));
    }
  };

  return (
    <section class="conversation" aria-labelledby="conv-title">
      <header class="conv-head">
        <button
          type="button"
          class="icon-btn back"
          onClick={() => navigate(null)}
          aria-label="Back to conversations"
        >
          <Icon name="back" />
        </button>
        <div class="conv-title">
          <h1 id="conv-title">{title}</h1>
          {conv.meta.topic && <p class="muted topic">{conv.meta.topic}</p>}
        </div>
        {conv.meta.kind === "channel" && (
          <button type="button" class="btn subtle" onClick={leave}>
            Leave
          </button>
        )}
      </header>
      {notice && (
        <p class="banner" role="alert">
          {notice}
        </p>
      )}
      {conv.messages === null ? (
        <div class="messages loading" aria-busy="true">
          <p class="muted">Loading messages…</p>
        </div>
      ) : (
        <MessageList
          chat={chat}
          rows={rows}
          label={`Messages in ${title}`}
          hasOlder={conv.hasOlder}
          loadOlder={() => chat.store.loadOlder(id)}
          onAtBottom={setAtBottom}
          onError={setNotice}
        />
      )}
      <p class="typing" aria-live="polite">
        {typers.length === 1 && `${typers[0]?.display_name} is typing…`}
        {typers.length === 2 && `${typers[0]?.display_name} and ${typers[1]?.display_name} are typing…`}
        {typers.length > 2 && "Several people are typing…"}
      </p>
      <Composer chat={chat} conversationId={id} label={`Message ${title}`} />
    </section>
  );
}

// groups says whether m continues prev's group: same sender, same day,
// within five minutes.
function groups(prev: Message | undefined, m: Message, sameDay: boolean): boolean {
  if (!prev || !sameDay || prev.sender_id !== m.sender_id || prev.deleted_at) return false;
  return Date.parse(m.created_at) - Date.parse(prev.created_at) < 5 * 60_000;
}

function Composer({ chat, conversationId, label }: { chat: Chat; conversationId: number; label: string }) {
  const [text, setText] = useState(() => sessionStorage.getItem(`parley.draft.${conversationId}`) ?? "");
  const ref = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    ref.current?.focus();
  }, []);
  useEffect(() => {
    sessionStorage.setItem(`parley.draft.${conversationId}`, text);
    const el = ref.current;
    if (el) {
      el.style.height = "auto";
      el.style.height = `${Math.min(el.scrollHeight, 200)}px`;
    }
  }, [text, conversationId]);

  const send = () => {
    if (!text.trim()) return;
    chat.send(conversationId, text);
    setText("");
  };
  const tooLong = [...text].length > 4000;
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <textarea
        ref={ref}
        rows={1}
        value={text}
        aria-label={label}
        placeholder={`${label}`}
        onInput={(e) => {
          setText(e.currentTarget.value);
          if (e.currentTarget.value) chat.sendTyping(conversationId);
        }}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            if (!tooLong) send();
          }
        }}
      />
      <button type="submit" class="send" aria-label="Send" disabled={!text.trim() || tooLong}>
        <Icon name="send" />
      </button>
      {tooLong && (
        <p class="form-error composer-error" role="alert">
          A message holds at most 4,000 characters.
        </p>
      )}
    </form>
  );
}
