// The wire types of the REST API, generated from openapi.yaml (src/api/schema.ts
// is written by `npm run gen`, so the client cannot drift from the contract).
import type { components } from "./schema";

type Schemas = components["schemas"];

export type User = Schemas["User"];
export type Tokens = Schemas["Tokens"];
export type Channel = Schemas["Channel"];
export type Member = Schemas["Member"];
export type Message = Schemas["Message"];
export type MessagePage = Schemas["MessagePage"];
export type UserPage = Schemas["UserPage"];
export type ChannelPage = Schemas["ChannelPage"];
export type WebSocketTicket = Schemas["WebSocketTicket"];
export type UserProfile = Schemas["UserProfile"];

// Issue 9's fields (lossless sync), until openapi.yaml carries them.
export type Conversation = Schemas["Conversation"] & {
  last_event_seq: number;
  read_seq: number;
  last_message_at?: string | null;
};
export type ConversationPage = {
  items: Conversation[];
  has_more: boolean;
  next_cursor?: string;
};
export type Change = {
  event_seq: number;
  type: "message.created" | "message.updated" | "message.deleted";
  message_id: number;
  seq: number;
};
export type ChangePage = { items: Change[]; has_more: boolean };
