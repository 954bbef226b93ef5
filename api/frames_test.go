package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// serverFrames compiles, once, the payload schema of every message that
// asyncapi.yaml's send operations say the server sends, by message name
// (the frame's type). It mirrors notify's own check in fewer lines; a shared
// exported helper (notify/notifytest) would replace both.
var serverFrames = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	raw, err := os.ReadFile("../asyncapi.yaml")
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	js, err := json.Marshal(doc) // YAML values as JSON ones, as the validator wants
	if err != nil {
		return nil, err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7) // AsyncAPI's schema format builds on draft 7
	if err := c.AddResource("asyncapi.json", inst); err != nil {
		return nil, err
	}
	// operation → channel message → component message → payload
	deref := func(v any) string {
		m, _ := v.(map[string]any)
		ref, _ := m["$ref"].(string)
		return strings.TrimPrefix(ref, "#")
	}
	lookup := func(ptr string) any {
		var cur any = doc
		for _, p := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
			m, _ := cur.(map[string]any)
			cur = m[p]
		}
		return cur
	}
	out := map[string]*jsonschema.Schema{}
	for _, o := range doc["operations"].(map[string]any) {
		op := o.(map[string]any)
		if op["action"] != "send" {
			continue
		}
		for _, m := range op["messages"].([]any) {
			ptr := deref(lookup(deref(m)))
			name, _ := lookup(ptr + "/name").(string)
			if name == "" {
				return nil, fmt.Errorf("message %s has no name", ptr)
			}
			sch, err := c.Compile("asyncapi.json#" + ptr + "/payload")
			if err != nil {
				return nil, fmt.Errorf("message %s: %w", name, err)
			}
			out[name] = sch
		}
	}
	return out, nil
})

// checkFrame reports an error unless data is a frame that asyncapi.yaml
// says the server sends. It may be called from any goroutine.
func checkFrame(t testing.TB, data []byte) {
	schemas, err := serverFrames()
	if err != nil {
		t.Errorf("asyncapi.yaml: %v", err)
		return
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Errorf("frame %s is not JSON: %v", data, err)
		return
	}
	typ, _ := inst.(map[string]any)["type"].(string)
	sch := schemas[typ]
	if sch == nil {
		t.Errorf("frame %s: asyncapi.yaml has no message %q", data, typ)
		return
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("frame %s does not match asyncapi.yaml: %v", data, err)
	}
}

// recorder is a testing.TB that keeps what checkFrame reports.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestCheckFrame checks the checker: frames that asyncapi.yaml does not
// describe must fail the tests that receive them.
func TestCheckFrame(t *testing.T) {
	t.Parallel()
	tests := []struct {
		frame string
		valid bool
	}{
		{`{"type":"message.created","conversation_id":7,"message_id":123,"seq":42}`, true},
		{`{"type":"hello","user_id":3}`, true},
		{`{"type":"resync"}`, true},
		{`{"type":"presence","user_id":5,"online":false}`, true},
		{`{"type":"message.created","conversation_id":7,"message_id":123}`, false},
		{`{"type":"message.created","conversation_id":7,"message_id":123,"seq":42,"body":"hi"}`, false},
		{`{"type":"read.updated","conversation_id":7,"seq":0}`, false},
		{`{"type":"no.such.event"}`, false},
		{`not json`, false},
	}
	for _, tt := range tests {
		r := &recorder{TB: t}
		checkFrame(r, []byte(tt.frame))
		if got := len(r.errors) == 0; got != tt.valid {
			t.Errorf("checkFrame(%s): valid %v (%v), want %v", tt.frame, got, r.errors, tt.valid)
		}
	}
}
