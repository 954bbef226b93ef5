// MessageList shows a conversation's messages, rendering only those near the
// viewport: rows above and below are stood in for by two spacers whose
// heights are the rows' measured heights (or an estimate until measured). The
// view stays put when older messages are prepended or a row above changes
// height: after each render the first visible row is put back where it was.
// At the bottom, the view follows new messages.
import { memo } from "preact/compat";
import { useLayoutEffect, useMemo, useReducer, useRef, useState } from "preact/hooks";
import { describe } from "../api/client";
import type { Message } from "../api/types";
import type { Chat } from "../chat";
import type { Pending } from "../sync/outbox";
import { initial } from "./ChatScreen";

export type Row = { key: string; message?: Message; pending?: Pending; grouped: boolean; newDay: boolean };

const estimate = 64;
const overscan = 800;
const nearTop = 600;

type Props = {
  chat: Chat;
  rows: Row[];
  label: string;
  hasOlder: boolean;
  loadOlder: () => Promise<void>;
  onAtBottom: (b: boolean) => void;
  onError: (s: string) => void;
};

export function MessageList({ chat, rows, label, hasOlder, loadOlder, onAtBottom, onError }: Props) {
  const scroller = useRef<HTMLElement>(null);
  const heights = useRef(new Map<string, number>());
  const stick = useRef(true);
  const anchor = useRef<{ key: string; delta: number } | null>(null);
  const loading = useRef(false);
  const [measured, remeasure] = useReducer((n: number) => n + 1, 0);
  const [range, setRange] = useState({ start: Math.max(0, rows.length - 30), end: rows.length });
  const [editing, setEditing] = useState<number | null>(null);

  // offsets[i] is the top of row i; offsets[rows.length] the total height.
  const { offsets, index } = useMemo(() => {
    const offsets = new Float64Array(rows.length + 1);
    const index = new Map<string, number>();
    rows.forEach((r, i) => {
      index.set(r.key, i);
      offsets[i + 1] = (offsets[i] as number) + (heights.current.get(r.key) ?? estimate);
    });
    return { offsets, index };
  }, [rows, measured]);
  const total = offsets[rows.length] as number;

  // rowAt is the index of the row at y.
  const rowAt = (y: number): number => {
    let lo = 0;
    let hi = rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((offsets[mid + 1] as number) <= y) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const rangeFor = (el: HTMLElement) => ({
    start: rowAt(el.scrollTop - overscan),
    end: Math.min(rows.length, rowAt(el.scrollTop + el.clientHeight + overscan) + 1),
  });
  const start = Math.min(range.start, rows.length);
  const end = Math.min(Math.max(range.end, start), rows.length);

  const update = (el: HTMLElement) => {
    const r = rangeFor(el);
    if (r.start !== range.start || r.end !== range.end) setRange(r);
  };

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    if (atBottom !== stick.current) onAtBottom(atBottom);
    stick.current = atBottom;
    // Remember the first row in view, to put it back after the next render.
    const i = rowAt(el.scrollTop);
    const r = rows[i];
    anchor.current = r ? { key: r.key, delta: el.scrollTop - (offsets[i] as number) } : null;
    update(el);
    if (el.scrollTop < nearTop && hasOlder && !loading.current) {
      loading.current = true;
      loadOlder()
        .catch((err) => onError(describe(err)))
        .finally(() => {
          loading.current = false;
        });
    }
  };

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    // Measure the rows rendered for the first time; re-render if an
    // estimate was wrong.
    let changed = false;
    for (const child of el.querySelectorAll<HTMLElement>("[data-key]")) {
      const key = child.dataset.key as string;
      const h = child.offsetHeight;
      if (heights.current.get(key) !== h) {
        heights.current.set(key, h);
        changed = true;
      }
    }
    if (changed) {
      remeasure(0);
      return;
    }
    if (stick.current) {
      el.scrollTop = el.scrollHeight;
    } else if (anchor.current) {
      const i = index.get(anchor.current.key);
      if (i !== undefined) {
        const want = (offsets[i] as number) + anchor.current.delta;
        if (Math.abs(el.scrollTop - want) > 1) el.scrollTop = want;
      }
    }
    update(el);
  });

  // A short history does not scroll: load older messages until it does.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (el && hasOlder && !loading.current && el.scrollHeight <= el.clientHeight + nearTop) onScroll();
  }, [rows.length, hasOlder]);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => {
      if (stick.current) el.scrollTop = el.scrollHeight;
      remeasure(0);
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard
    <section class="messages" ref={scroller} onScroll={onScroll} tabIndex={0} aria-label={label}>
      <div style={{ height: `${offsets[start]}px` }} aria-hidden="true" />
      <ol class="rows">
        {rows.slice(start, end).map((r) => (
          <MessageRow
            key={r.key}
            chat={chat}
            row={r}
            senderName={chat.person(r.message ? r.message.sender_id : chat.me.id).display_name}
            first={!hasOlder && r === rows[0]}
            editing={r.message?.id === editing}
            setEditing={setEditing}
            onError={onError}
          />
        ))}
      </ol>
      <div style={{ height: `${total - (offsets[end] as number)}px` }} aria-hidden="true" />
    </section>
  );
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "long", day: "numeric" });

// MessageRow re-renders only when its own props change, not on every scroll.
const MessageRow = memo(function MessageRow({
  chat,
  row,
  senderName,
  first,
  editing,
  setEditing,
  onError,
}: {
  chat: Chat;
  row: Row;
  senderName: string;
  first: boolean;
  editing: boolean;
  setEditing: (id: number | null) => void;
  onError: (s: string) => void;
}) {
  const m = row.message;
  const p = row.pending;
  const senderId = m ? m.sender_id : chat.me.id;
  const when = new Date(m ? m.created_at : (p?.createdAt ?? 0));
  const mine = senderId === chat.me.id;
  const deleted = Boolean(m?.deleted_at);
  const cls = ["msg", row.grouped ? "grouped" : "", p ? `pending ${p.state}` : "", deleted ? "deleted" : ""];
  return (
    <li class={cls.join(" ")} data-key={row.key} data-seq={m?.seq}>
      {first && <p class="history-start muted">This is the beginning of the conversation.</p>}
      {row.newDay && (
        <div class="day">
          <span>{dayFmt.format(when)}</span>
        </div>
      )}
      <div class="msg-inner">
        {row.grouped ? (
          <span class="gutter-time muted" aria-hidden="true">
            {timeFmt.format(when)}
          </span>
        ) : (
          <span class="avatar" aria-hidden="true" data-hue={senderId % 8}>
            {initial(senderName)}
          </span>
        )}
        <div class="msg-main">
          {!row.grouped && (
            <div class="msg-meta">
              <strong class="sender">{senderName}</strong>
              <time class="muted" dateTime={when.toISOString()}>
                {timeFmt.format(when)}
              </time>
            </div>
          )}
          {editing && m ? (
            <EditBox chat={chat} m={m} done={() => setEditing(null)} onError={onError} />
          ) : deleted ? (
            <p class="body muted">This message was deleted.</p>
          ) : (
            <p class="body">
              {m ? m.body : p?.body}
              {m?.edited_at && <span class="edited muted"> (edited)</span>}
            </p>
          )}
          {p && <PendingState chat={chat} p={p} />}
        </div>
        {m && mine && !deleted && !editing && (
          <div class="msg-actions">
            <button type="button" class="btn tiny" onClick={() => setEditing(m.id)} aria-label="Edit message">
              Edit
            </button>
            <button
              type="button"
              class="btn tiny danger"
              aria-label="Delete message"
              onClick={async () => {
                if (!confirm("Delete this message? Everyone in the conversation will see it was deleted."))
                  return;
                try {
                  chat.afterEdit(await chat.api.deleteMessage(m.id));
                } catch (err) {
                  onError(describe(err));
                }
              }}
            >
              Delete
            </button>
          </div>
        )}
      </div>
    </li>
  );
});

function PendingState({ chat, p }: { chat: Chat; p: Pending }) {
  if (p.state === "sending") return <span class="pending-note muted">Sending…</span>;
  return (
    <span class="pending-note" role="status">
      {p.state === "waiting" ? "Not sent yet, retrying. " : "Not sent. "}
      {p.error && <span class="muted">{p.error} </span>}
      <button type="button" class="link" onClick={() => chat.outbox.retry(p.clientMsgId)}>
        Retry now
      </button>{" "}
      <button type="button" class="link" onClick={() => chat.outbox.discard(p.clientMsgId)}>
        Discard
      </button>
    </span>
  );
}

function EditBox({
  chat,
  m,
  done,
  onError,
}: {
  chat: Chat;
  m: Message;
  done: () => void;
  onError: (s: string) => void;
}) {
  const [text, setText] = useState(m.body);
  const ref = useRef<HTMLTextAreaElement>(null);
  useLayoutEffect(() => {
    ref.current?.focus();
  }, []);
  const save = async () => {
    if (!text.trim() || text === m.body) return done();
    try {
      chat.afterEdit(await chat.api.editMessage(m.id, text));
      done();
    } catch (err) {
      onError(describe(err));
    }
  };
  return (
    <div class="edit-box">
      <textarea
        ref={ref}
        value={text}
        aria-label="Edit message"
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey) {
            e.preventDefault();
            void save();
          } else if (e.key === "Escape") {
            e.preventDefault();
            done();
          }
        }}
      />
      <div class="edit-actions">
        <span class="muted">Enter to save · Esc to cancel</span>
        <button type="button" class="btn tiny" onClick={done}>
          Cancel
        </button>
        <button type="button" class="btn tiny primary" onClick={save}>
          Save
        </button>
      </div>
    </div>
  );
}
