package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"parley/model"
)

// frameSchemas are the payload schemas of asyncapi.yaml's messages, by the
// frame type they describe (the message's name).
type frameSchemas struct {
	server   map[string]*jsonschema.Schema // operations with action send
	client   map[string]*jsonschema.Schema // operations with action receive
	examples []example
}

type example struct {
	name    string
	server  bool
	payload any
}

var (
	schemasOnce sync.Once
	schemas     *frameSchemas
	schemasErr  error
)

// loadSchemas compiles the message payload schemas of ../asyncapi.yaml
// once. jsonschema/v6 is the validator kin-openapi already brings into the
// module; it implements draft 7, the base of AsyncAPI's schema format.
func loadSchemas(tb testing.TB) *frameSchemas {
	tb.Helper()
	schemasOnce.Do(func() { schemas, schemasErr = compileSchemas("../asyncapi.yaml") })
	if schemasErr != nil {
		tb.Fatalf("asyncapi.yaml: %v", schemasErr)
	}
	return schemas
}

func compileSchemas(path string) (*frameSchemas, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	if v := doc["asyncapi"]; v != "3.0.0" {
		return nil, fmt.Errorf("asyncapi is %v, want 3.0.0", v)
	}
	js, err := json.Marshal(doc) // YAML values → JSON values, as the validator expects
	if err != nil {
		return nil, err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, err
	}
	const url = "asyncapi.json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	if err := c.AddResource(url, inst); err != nil {
		return nil, err
	}
	fs := &frameSchemas{server: map[string]*jsonschema.Schema{}, client: map[string]*jsonschema.Schema{}}
	ops, _ := doc["operations"].(map[string]any)
	if len(ops) == 0 {
		return nil, fmt.Errorf("no operations")
	}
	for opName, o := range ops {
		op, _ := o.(map[string]any)
		var into map[string]*jsonschema.Schema
		switch op["action"] {
		case "send":
			into = fs.server
		case "receive":
			into = fs.client
		default:
			return nil, fmt.Errorf("operation %s: action %v", opName, op["action"])
		}
		msgs, _ := op["messages"].([]any)
		for _, m := range msgs {
			// operation → channel message → component message
			ptr, err := follow(doc, m)
			if err != nil {
				return nil, fmt.Errorf("operation %s: %w", opName, err)
			}
			msgPtr, err := follow(doc, lookup(doc, ptr))
			if err != nil {
				return nil, fmt.Errorf("operation %s: %w", opName, err)
			}
			msg, _ := lookup(doc, msgPtr).(map[string]any)
			name, _ := msg["name"].(string)
			if name == "" {
				return nil, fmt.Errorf("message %s has no name", msgPtr)
			}
			if _, dup := into[name]; dup {
				return nil, fmt.Errorf("operation %s: two messages named %s", opName, name)
			}
			sch, err := c.Compile(url + "#" + msgPtr + "/payload")
			if err != nil {
				return nil, fmt.Errorf("message %s: %w", name, err)
			}
			into[name] = sch
			exs, _ := msg["examples"].([]any)
			for _, e := range exs {
				ex, _ := e.(map[string]any)
				fs.examples = append(fs.examples, example{name: name, server: op["action"] == "send", payload: ex["payload"]})
			}
		}
	}
	return fs, nil
}

// follow returns the JSON pointer of a {"$ref": "#/…"} object.
func follow(doc map[string]any, v any) (string, error) {
	m, _ := v.(map[string]any)
	ref, _ := m["$ref"].(string)
	if !strings.HasPrefix(ref, "#/") || lookup(doc, ref[1:]) == nil {
		return "", fmt.Errorf("bad $ref %q", ref)
	}
	return ref[1:], nil
}

func lookup(doc map[string]any, ptr string) any {
	var cur any = doc
	for _, p := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")]
	}
	return cur
}

// checkFrame fails tb unless data is a frame that asyncapi.yaml describes,
// sent by the server (fromServer) or by a client.
func checkFrame(tb testing.TB, data []byte, fromServer bool) {
	tb.Helper()
	if err := validateFrame(loadSchemas(tb), data, fromServer); err != nil {
		tb.Errorf("frame %s does not match asyncapi.yaml: %v", data, err)
	}
}

func validateFrame(fs *frameSchemas, data []byte, fromServer bool) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	obj, _ := inst.(map[string]any)
	typ, _ := obj["type"].(string)
	set := fs.client
	if fromServer {
		set = fs.server
	}
	sch := set[typ]
	if sch == nil {
		return fmt.Errorf("no message named %q", typ)
	}
	return sch.Validate(inst)
}

// TestAsyncAPI_Messages checks that asyncapi.yaml names every event type,
// that its examples match its schemas, and that every event the model can
// build marshals to a frame it describes.
func TestAsyncAPI_Messages(t *testing.T) {
	t.Parallel()
	fs := loadSchemas(t)

	var server []string
	for name := range fs.server {
		server = append(server, name)
	}
	sort.Strings(server)
	want := []string{"conversation.joined", "conversation.left", "hello", "member.joined", "member.left",
		"message.created", "message.deleted", "message.updated", "presence", "read.updated", "resync", "typing"}
	if diff := cmp.Diff(want, server); diff != "" {
		t.Errorf("server messages (-want +got):\n%s", diff)
	}
	if _, ok := fs.client["typing"]; !ok || len(fs.client) != 1 {
		t.Errorf("client messages: got %d, want typing only", len(fs.client))
	}

	for _, ex := range fs.examples {
		data, err := json.Marshal(ex.payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := validateFrame(fs, data, ex.server); err != nil {
			t.Errorf("example of %s: %v", ex.name, err)
		}
	}

	events := []model.Event{
		model.MessageCreated(7, 123, 42), model.MessageUpdated(7, 123, 42), model.MessageDeleted(7, 123, 42),
		model.ConversationJoined(3, 7), model.ConversationLeft(3, 7), model.MemberJoined(7, 5), model.MemberLeft(7, 5),
		model.ReadUpdated(3, 7, 42), model.Typing(7, 5), model.Presence(5, true, []model.ConversationID{7}),
		model.Presence(5, false, []model.ConversationID{7}), model.Hello(3), model.Resync(),
	}
	seen := map[string]bool{}
	for _, ev := range events {
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		seen[string(ev.Type)] = true
		if err := validateFrame(fs, data, true); err != nil {
			t.Errorf("%s: %v", data, err)
		}
	}
	for _, name := range want {
		if !seen[name] {
			t.Errorf("no constructor checked for %s", name)
		}
	}

	bad := []string{
		`{"type":"message.created","conversation_id":7,"message_id":123}`,
		`{"type":"message.created","conversation_id":7,"message_id":123,"seq":42,"body":"hi"}`,
		`{"type":"hello","user_id":0}`,
		`{"type":"presence","user_id":5}`,
		`{"type":"presence","user_id":5,"online":true,"conversation_id":7}`, // would tell who is where
		`{"type":"unknown"}`,
	}
	for _, b := range bad {
		if validateFrame(fs, []byte(b), true) == nil {
			t.Errorf("%s: valid, want invalid", b)
		}
	}
}

// TestAsyncAPI_ClientFrames checks that the frames the server accepts from
// clients are the ones asyncapi.yaml describes.
func TestAsyncAPI_ClientFrames(t *testing.T) {
	t.Parallel()
	fs := loadSchemas(t)
	tests := []string{
		`{"type":"typing","conversation_id":7}`,
		` {"conversation_id":7,"type":"typing"} `,
		`{"type":"typing"}`,
		`{"type":"typing","conversation_id":0}`,
		`{"type":"typing","conversation_id":-1}`,
		`{"type":"typing","conversation_id":7.5}`,
		`{"type":"typing","conversation_id":"7"}`,
		`{"type":"typing","conversation_id":7,"user_id":3}`,
		`{"TYPE":"typing","conversation_id":7}`,
		`{"type":"message.created","conversation_id":7}`,
		`{"type":"typing","conversation_id":7}{}`,
		`[]`,
		`null`,
	}
	for _, tc := range tests {
		_, err := parseClientFrame([]byte(tc))
		verr := validateFrame(fs, []byte(tc), false)
		if (err == nil) != (verr == nil) {
			t.Errorf("%s: parse error %v, schema error %v; want both nil or both set", tc, err, verr)
		}
	}
}
