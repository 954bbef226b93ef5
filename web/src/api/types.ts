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

export type Conversation = Schemas["Conversation"];
export type ConversationPage = Schemas["ConversationPage"];
export type Change = Schemas["Change"];
export type ChangePage = Schemas["ChangePage"];
