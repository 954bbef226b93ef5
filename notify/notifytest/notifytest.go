// Package notifytest checks event frames against asyncapi.yaml, for the
// tests of every package that sends or receives them (notify, api, e2e).
// It imports only the module's root package, never notify itself.
package notifytest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"parley"
)

// Schemas are the payload schemas of asyncapi.yaml's messages, by the frame
// type they describe (the message's name).
type Schemas struct {
	Server   map[string]*jsonschema.Schema // messages of operations with action send
	Client   map[string]*jsonschema.Schema // messages of operations with action receive
	Examples []Example
	Push     *jsonschema.Schema // the body of a push to a device (PushMessage)
}

// Example is one example payload of a message in asyncapi.yaml.
type Example struct {
	Name    string
	Server  bool // sent by the server
	Payload any
}

// Load compiles asyncapi.yaml's message schemas, once per process.
// jsonschema/v6 is the validator kin-openapi already brings into the
// module; it implements draft 7, the base of AsyncAPI's schema format.
var Load = sync.OnceValues(func() (*Schemas, error) {
	s, err := compile(parley.AsyncAPI)
	if err != nil {
		return nil, fmt.Errorf("asyncapi.yaml: %w", err)
	}
	return s, nil
})

// CheckFrame returns an error unless data is a frame that asyncapi.yaml
// describes, sent by the server (fromServer) or by a client. It is safe to
// call from any goroutine.
func CheckFrame(data []byte, fromServer bool) error {
	s, err := Load()
	if err != nil {
		return err
	}
	return s.Validate(data, fromServer)
}

// Validate returns an error unless data is a frame of one of s's messages,
// sent by the server (fromServer) or by a client.
// CheckPush returns an error unless data is the body of a push that
// asyncapi.yaml describes (PushMessage).
func CheckPush(data []byte) error {
	s, err := Load()
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("push %s is not JSON: %w", data, err)
	}
	if err := s.Push.Validate(inst); err != nil {
		return fmt.Errorf("push %s does not match asyncapi.yaml: %w", data, err)
	}
	return nil
}

func (s *Schemas) Validate(data []byte, fromServer bool) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("frame %s is not JSON: %w", data, err)
	}
	obj, _ := inst.(map[string]any)
	typ, _ := obj["type"].(string)
	set := s.Client
	if fromServer {
		set = s.Server
	}
	sch := set[typ]
	if sch == nil {
		return fmt.Errorf("frame %s: asyncapi.yaml has no such message %q", data, typ)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("frame %s does not match asyncapi.yaml: %w", data, err)
	}
	return nil
}

func compile(raw []byte) (*Schemas, error) {
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
	s := &Schemas{Server: map[string]*jsonschema.Schema{}, Client: map[string]*jsonschema.Schema{}}
	if s.Push, err = c.Compile(url + "#/components/schemas/PushMessage"); err != nil {
		return nil, fmt.Errorf("PushMessage: %w", err)
	}
	ops, _ := doc["operations"].(map[string]any)
	if len(ops) == 0 {
		return nil, errors.New("no operations")
	}
	for opName, o := range ops {
		op, _ := o.(map[string]any)
		// The push channel's body goes to push services, not over the
		// event channel: CheckPush checks it.
		if ch, _ := op["channel"].(map[string]any); ch["$ref"] == "#/channels/push" {
			continue
		}
		var into map[string]*jsonschema.Schema
		switch op["action"] {
		case "send":
			into = s.Server
		case "receive":
			into = s.Client
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
				s.Examples = append(s.Examples, Example{Name: name, Server: op["action"] == "send", Payload: ex["payload"]})
			}
		}
	}
	return s, nil
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

// lookup returns the value at JSON pointer ptr in doc, or nil.
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
