import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { frameFields, parseFrame } from "./events";

// The frames this client understands are those asyncapi.yaml says the
// server sends, each with the fields it requires.
describe("event frames", () => {
  const spec = parse(readFileSync(join(import.meta.dirname, "../../../asyncapi.yaml"), "utf8"));
  const sent: { $ref: string }[] = spec.operations.sendEvents.messages;

  it("match asyncapi.yaml", () => {
    const fromSpec: Record<string, string[]> = {};
    for (const ref of sent) {
      const key = ref.$ref.split("/").pop() as string;
      const msgRef: string = spec.channels.events.messages[key].$ref;
      const msg = spec.components.messages[msgRef.split("/").pop() as string];
      const schema = spec.components.schemas[(msg.payload.$ref as string).split("/").pop() as string];
      fromSpec[msg.name] = [...schema.required].sort();
    }
    const ours = Object.fromEntries(Object.entries(frameFields).map(([k, v]) => [k, [...v].sort()]));
    expect(ours).toEqual(fromSpec);
  });

  it("parses known frames and ignores others", () => {
    expect(parseFrame('{"type":"hello","user_id":3}')).toEqual({ type: "hello", user_id: 3 });
    expect(parseFrame('{"type":"message.created","conversation_id":1}')).toBeNull();
    expect(parseFrame('{"type":"something.new"}')).toBeNull();
    expect(parseFrame("not json")).toBeNull();
  });
});
