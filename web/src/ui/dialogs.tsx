import { useEffect, useRef, useState } from "preact/hooks";
import { describe } from "../api/client";
import type { Channel, User } from "../api/types";
import type { Chat } from "../chat";
import { navigate } from "./ChatScreen";
import { Icon } from "./icons";

// Modal is a <dialog> shown modally: the browser traps focus in it and
// closes it on Escape.
function Modal({
  title,
  onClose,
  children,
}: {
  title: string;
  onClose: () => void;
  children: preact.ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  return (
    // biome-ignore lint/a11y/useKeyWithClickEvents: a click on the backdrop closes it; Escape does so from the keyboard
    <dialog
      ref={ref}
      class="modal"
      aria-labelledby="modal-title"
      onClose={onClose}
      onClick={(e) => {
        if (e.target === ref.current) onClose();
      }}
    >
      <div class="modal-body">
        <header class="modal-head">
          <h2 id="modal-title">{title}</h2>
          <button type="button" class="icon-btn" onClick={onClose} aria-label="Close">
            ×
          </button>
        </header>
        {children}
      </div>
    </dialog>
  );
}

// useSearch runs search as the query changes, at most every 200 ms.
function useSearch<T>(
  q: string,
  search: (q: string) => Promise<T[]>,
): { items: T[]; error: string; busy: boolean } {
  const [state, setState] = useState({ items: [] as T[], error: "", busy: true });
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, busy: true }));
    const t = setTimeout(() => {
      search(q.trim()).then(
        (items) => live && setState({ items, error: "", busy: false }),
        (err) => live && setState({ items: [], error: describe(err), busy: false }),
      );
    }, 200);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [q]);
  return state;
}

export function BrowseChannels({ chat, onClose }: { chat: Chat; onClose: () => void }) {
  const [q, setQ] = useState("");
  const [error, setError] = useState("");
  const {
    items,
    error: searchError,
    busy,
  } = useSearch<Channel>(q, async (q) => (await chat.api.searchChannels(q)).items);
  const join = async (c: Channel) => {
    try {
      if (!c.is_member) {
        await chat.api.joinChannel(c.id);
        await chat.store.joined(c.id);
      }
      onClose();
      navigate(c.id);
    } catch (err) {
      setError(describe(err));
    }
  };
  return (
    <Modal title="Browse channels" onClose={onClose}>
      <label class="search">
        <Icon name="search" />
        <input
          type="search"
          placeholder="Search channels"
          aria-label="Search channels"
          value={q}
          onInput={(e) => setQ(e.currentTarget.value)}
        />
      </label>
      {(error || searchError) && (
        <p class="form-error" role="alert">
          {error || searchError}
        </p>
      )}
      <ul class="pick-list" aria-busy={busy}>
        {items.map((c) => (
          <li key={c.id}>
            <div class="pick-text">
              <strong>#{c.name}</strong>
              <span class="muted">
                {c.member_count} member{c.member_count === 1 ? "" : "s"}
                {c.topic ? ` · ${c.topic}` : ""}
              </span>
            </div>
            <button type="button" class={`btn ${c.is_member ? "" : "primary"}`} onClick={() => join(c)}>
              {c.is_member ? "Open" : "Join"}
              <span class="sr-only"> #{c.name}</span>
            </button>
          </li>
        ))}
        {!busy && items.length === 0 && !searchError && <li class="muted">No channels match.</li>}
      </ul>
    </Modal>
  );
}

export function NewChannel({ chat, onClose }: { chat: Chat; onClose: () => void }) {
  const [name, setName] = useState("");
  const [topic, setTopic] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const c = await chat.api.createChannel(name.trim(), topic.trim());
      await chat.store.joined(c.id);
      onClose();
      navigate(c.id);
    } catch (err) {
      setError(describe(err));
      setBusy(false);
    }
  };
  return (
    <Modal title="Create a channel" onClose={onClose}>
      <form class="stack" onSubmit={submit}>
        <label>
          Name
          <input
            name="name"
            required
            maxLength={64}
            pattern="[A-Za-z0-9][A-Za-z0-9_\-]*"
            title="Letters, digits, _ or -, starting with a letter or digit"
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
            placeholder="e.g. design-review"
          />
        </label>
        <label>
          Topic <span class="muted">(optional)</span>
          <input
            name="topic"
            maxLength={250}
            value={topic}
            onInput={(e) => setTopic(e.currentTarget.value)}
          />
        </label>
        {error && (
          <p class="form-error" role="alert">
            {error}
          </p>
        )}
        <div class="row-end">
          <button type="button" class="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="btn primary" disabled={busy}>
            Create channel
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function NewDirect({ chat, onClose }: { chat: Chat; onClose: () => void }) {
  const [q, setQ] = useState("");
  const [error, setError] = useState("");
  const {
    items,
    error: searchError,
    busy,
  } = useSearch<User>(q, async (q) =>
    (await chat.api.searchUsers(q)).items.filter((u) => u.id !== chat.me.id),
  );
  const open = async (u: User) => {
    try {
      const c = await chat.api.openDirect(u.id);
      chat.people.set(u.id, u);
      chat.peer.set(c.id, u.id);
      await chat.store.joined(c.id);
      onClose();
      navigate(c.id);
    } catch (err) {
      setError(describe(err));
    }
  };
  return (
    <Modal title="Message someone" onClose={onClose}>
      <label class="search">
        <Icon name="search" />
        <input
          type="search"
          placeholder="Search people by name"
          aria-label="Search people"
          value={q}
          onInput={(e) => setQ(e.currentTarget.value)}
        />
      </label>
      {(error || searchError) && (
        <p class="form-error" role="alert">
          {error || searchError}
        </p>
      )}
      <ul class="pick-list" aria-busy={busy}>
        {items.map((u) => (
          <li key={u.id}>
            <div class="pick-text">
              <strong>{u.display_name}</strong>
              <span class="muted">@{u.username}</span>
            </div>
            <button type="button" class="btn primary" onClick={() => open(u)}>
              Message<span class="sr-only"> {u.display_name}</span>
            </button>
          </li>
        ))}
        {!busy && items.length === 0 && !searchError && <li class="muted">No one matches.</li>}
      </ul>
    </Modal>
  );
}
