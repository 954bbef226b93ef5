// Realtime keeps one WebSocket open to /api/v1/ws, authenticated with a
// single-use ticket (browsers cannot send headers on a WebSocket). It
// reconnects with exponential backoff and jitter, at once when the browser
// comes back online, and never after close code 4001 (the login ended).
import { parseFrame, type ServerFrame } from "../api/events";
import { LoggedOutError } from "../auth/session";

export type ConnState = "connecting" | "online" | "offline" | "reconnecting";

export type RealtimeDeps = {
  ticket: () => Promise<string>;
  onFrame: (f: ServerFrame) => void;
  onState: (s: ConnState) => void;
  onLoginEnded: () => void;
};

const closeLoginEnded = 4001;

export function backoff(attempt: number, random = Math.random): number {
  const base = Math.min(30_000, 500 * 2 ** attempt);
  return base / 2 + (random() * base) / 2;
}

export class Realtime {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  state: ConnState = "connecting";

  constructor(private readonly deps: RealtimeDeps) {}

  start(): void {
    window.addEventListener("online", this.online);
    window.addEventListener("offline", this.offline);
    if (navigator.onLine) void this.connect();
    else this.set("offline");
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    window.removeEventListener("online", this.online);
    window.removeEventListener("offline", this.offline);
    this.ws?.close(1000);
    this.ws = null;
  }

  // send sends a client frame if connected; typing notices are best effort.
  send(frame: unknown): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private online = () => {
    this.attempt = 0;
    clearTimeout(this.timer);
    if (!this.ws) void this.connect();
  };

  // offline drops the socket: nothing arrives while the network is gone,
  // and the sync on reconnect covers what was missed.
  private offline = () => {
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000);
    this.set("offline");
  };

  private set(s: ConnState): void {
    this.state = s;
    this.deps.onState(s);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.set(this.attempt === 0 ? "connecting" : "reconnecting");
    let ticket: string;
    try {
      ticket = await this.deps.ticket();
    } catch (err) {
      if (err instanceof LoggedOutError) return;
      this.retry();
      return;
    }
    if (this.stopped || !navigator.onLine) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/api/v1/ws?ticket=${encodeURIComponent(ticket)}`);
    this.ws = ws;
    ws.onmessage = (ev) => {
      const f = parseFrame(String(ev.data));
      if (!f) return;
      if (f.type === "hello") {
        this.attempt = 0;
        this.set("online");
      }
      this.deps.onFrame(f);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (ev.code === closeLoginEnded) {
        this.deps.onLoginEnded();
        return;
      }
      this.retry();
    };
  }

  private retry(): void {
    if (this.stopped) return;
    if (!navigator.onLine) {
      this.set("offline");
      return;
    }
    this.set("reconnecting");
    const wait = backoff(this.attempt++);
    this.timer = setTimeout(() => void this.connect(), wait);
  }
}
