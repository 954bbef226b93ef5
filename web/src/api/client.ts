// A small client for Parley's REST API: JSON in and out, the Bearer token from
// the session, one refresh-and-retry on 401, and errors a person can read.
import type { Session } from "../auth/session";
import type {
  Change,
  ChangePage,
  Channel,
  ChannelPage,
  Conversation,
  ConversationPage,
  Member,
  Message,
  MessagePage,
  Tokens,
  UserPage,
  UserProfile,
  WebSocketTicket,
} from "./types";

// ApiError is an error answer of the API: its stable code, the message meant
// for people, and the seconds to wait when rate limited.
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: Record<string, string> = {},
    readonly retryAfter = 0,
  ) {
    super(message);
  }
}

// NetworkError means the server could not be reached: the request may or may
// not have arrived, so only idempotent requests may be repeated.
export class NetworkError extends Error {
  constructor() {
    super("Can't reach the server. Check your connection; Parley keeps trying.");
  }
}

// describe turns any failure into one sentence for the person using the app.
export function describe(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.code === "rate_limited") {
      return `Too many attempts. Try again in ${err.retryAfter || 1} second${err.retryAfter === 1 ? "" : "s"}.`;
    }
    if (err.code === "invalid" && Object.keys(err.fields).length > 0) {
      return Object.entries(err.fields)
        .map(([k, v]) => `${k.replace("_", " ")}: ${v}`)
        .join("; ");
    }
    if (err.code === "internal") return "Something went wrong on the server. Try again in a moment.";
    if (err.code === "unavailable") return "The server is restarting. Try again in a moment.";
    return err.message;
  }
  if (err instanceof NetworkError) return err.message;
  return "Something went wrong.";
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

// fetchJSON sends one request and decodes the answer, without any session.
export async function fetchJSON<T>(method: Method, path: string, body?: unknown, token?: string): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new NetworkError();
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text().catch(() => "");
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!res.ok) {
    const e = (data as { error?: { code?: string; message?: string; fields?: Record<string, string> } })
      ?.error;
    throw new ApiError(
      res.status,
      e?.code ?? (res.status >= 500 ? "internal" : "unknown"),
      e?.message ?? `The server answered ${res.status}.`,
      e?.fields ?? {},
      Number(res.headers.get("Retry-After")) || 0,
    );
  }
  return data as T;
}

const v1 = "/api/v1";

// Api is the authenticated API as the app uses it.
export class Api {
  constructor(private readonly session: Session) {}

  // call sends a request with the current access token; a 401 refreshes the
  // tokens once (in whichever tab holds the refresh lock) and repeats it.
  async call<T>(method: Method, path: string, body?: unknown): Promise<T> {
    const token = await this.session.accessToken();
    try {
      return await fetchJSON<T>(method, v1 + path, body, token);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
      const fresh = await this.session.refresh(token);
      return fetchJSON<T>(method, v1 + path, body, fresh);
    }
  }

  listConversations(cursor?: string): Promise<ConversationPage> {
    const q = new URLSearchParams({ limit: "500" });
    if (cursor) q.set("cursor", cursor);
    return this.call("GET", `/conversations?${q}`);
  }
  getConversation(id: number): Promise<Conversation> {
    return this.call("GET", `/conversations/${id}`);
  }
  latestMessages(id: number, limit: number): Promise<MessagePage> {
    return this.call("GET", `/conversations/${id}/messages?limit=${limit}`);
  }
  messagesBefore(id: number, before: number, limit: number): Promise<MessagePage> {
    return this.call("GET", `/conversations/${id}/messages?before=${before}&limit=${limit}`);
  }
  messagesAfter(id: number, after: number, limit: number): Promise<MessagePage> {
    return this.call("GET", `/conversations/${id}/messages?after=${after}&limit=${limit}`);
  }
  changes(id: number, after: number, limit: number): Promise<ChangePage> {
    return this.call("GET", `/conversations/${id}/changes?after=${after}&limit=${limit}`);
  }
  async messagesByIds(ids: number[]): Promise<Message[]> {
    const out: Message[] = [];
    for (let i = 0; i < ids.length; i += 100) {
      const page = await this.call<{ items: Message[] }>(
        "GET",
        `/messages?ids=${ids.slice(i, i + 100).join(",")}`,
      );
      out.push(...page.items);
    }
    return out;
  }
  postMessage(id: number, body: string, clientMsgId: string): Promise<Message> {
    return this.call("POST", `/conversations/${id}/messages`, { body, client_msg_id: clientMsgId });
  }
  editMessage(id: number, body: string): Promise<Message> {
    return this.call("PATCH", `/messages/${id}`, { body });
  }
  deleteMessage(id: number): Promise<Message> {
    return this.call("DELETE", `/messages/${id}`);
  }
  markRead(id: number, seq: number): Promise<void> {
    return this.call("PUT", `/conversations/${id}/read`, { seq });
  }
  members(id: number): Promise<{ items: Member[] }> {
    return this.call("GET", `/conversations/${id}/members`);
  }
  user(id: number): Promise<UserProfile> {
    return this.call("GET", `/users/${id}`);
  }
  searchUsers(q: string): Promise<UserPage> {
    return this.call("GET", `/users?${new URLSearchParams({ q, limit: "20" })}`);
  }
  searchChannels(q: string, cursor?: string): Promise<ChannelPage> {
    const p = new URLSearchParams({ q, limit: "50" });
    if (cursor) p.set("cursor", cursor);
    return this.call("GET", `/channels?${p}`);
  }
  createChannel(name: string, topic: string): Promise<Channel> {
    return this.call("POST", "/channels", { name, topic });
  }
  joinChannel(id: number): Promise<Conversation> {
    return this.call("PUT", `/channels/${id}/members/me`);
  }
  leaveChannel(id: number): Promise<void> {
    return this.call("DELETE", `/channels/${id}/members/me`);
  }
  openDirect(userId: number): Promise<Conversation> {
    return this.call("POST", "/conversations/direct", { user_id: userId });
  }
  wsTicket(): Promise<WebSocketTicket> {
    return this.call("POST", "/ws/tickets");
  }
}

export type { Change, Tokens };
