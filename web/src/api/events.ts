// The event channel's frames (asyncapi.yaml). events.test.ts checks that
// every frame the server may send is listed here with the fields it requires.

export type ServerFrame =
  | { type: "hello"; user_id: number }
  | { type: "resync" }
  | MessageFrame
  | { type: "conversation.joined"; conversation_id: number }
  | { type: "conversation.left"; conversation_id: number }
  | { type: "member.joined"; conversation_id: number; user_id: number }
  | { type: "member.left"; conversation_id: number; user_id: number }
  | { type: "read.updated"; conversation_id: number; seq: number }
  | { type: "typing"; conversation_id: number; user_id: number }
  | { type: "presence"; user_id: number; online: boolean };

export type MessageFrame = {
  type: "message.created" | "message.updated" | "message.deleted";
  conversation_id: number;
  message_id: number;
  seq: number;
  event_seq: number;
};

// frameFields lists, for each frame type, the fields this client reads:
// the test holds them equal to asyncapi.yaml's required fields.
export const frameFields: Record<ServerFrame["type"], readonly string[]> = {
  hello: ["type", "user_id"],
  resync: ["type"],
  "message.created": ["type", "conversation_id", "message_id", "seq", "event_seq"],
  "message.updated": ["type", "conversation_id", "message_id", "seq", "event_seq"],
  "message.deleted": ["type", "conversation_id", "message_id", "seq", "event_seq"],
  "conversation.joined": ["type", "conversation_id"],
  "conversation.left": ["type", "conversation_id"],
  "member.joined": ["type", "conversation_id", "user_id"],
  "member.left": ["type", "conversation_id", "user_id"],
  "read.updated": ["type", "conversation_id", "seq"],
  typing: ["type", "conversation_id", "user_id"],
  presence: ["type", "user_id", "online"],
};

// parseFrame returns the frame in text if it is one this client knows, else null:
// a newer server may send frames an older client does not understand.
export function parseFrame(text: string): ServerFrame | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null) return null;
  const type = (v as { type?: unknown }).type;
  if (typeof type !== "string" || !(type in frameFields)) return null;
  for (const f of frameFields[type as ServerFrame["type"]]) {
    if (!(f in v)) return null;
  }
  return v as ServerFrame;
}
