package client_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"parley"
	"parley/client"
)

// wireTypes maps each schema of openapi.yaml that a body is made of to the
// client's Go type for it.
var wireTypes = map[string]any{
	"RegisterRequest":  client.RegisterRequest{},
	"LoginRequest":     client.LoginRequest{},
	"RefreshRequest":   client.RefreshRequest{},
	"ChannelRequest":   client.ChannelRequest{},
	"DirectRequest":    client.DirectRequest{},
	"ReadRequest":      client.ReadRequest{},
	"MessageRequest":   client.MessageRequest{},
	"MessageEdit":      client.MessageEdit{},
	"User":             client.User{},
	"UserProfile":      client.UserProfile{},
	"Tokens":           client.Tokens{},
	"Conversation":     client.Conversation{},
	"Channel":          client.Channel{},
	"Member":           client.Member{},
	"Message":          client.Message{},
	"WebSocketTicket":  client.WebSocketTicket{},
	"UserPage":         client.UserPage{},
	"ChannelPage":      client.ChannelPage{},
	"ConversationPage": client.ConversationPage{},
	"MessagePage":      client.MessagePage{},
	"MemberPage":       client.MemberPage{},
	"ChannelUpdate":    client.ChannelUpdate{},
	"DeviceRequest":    client.DeviceRequest{},
	"Device":           client.Device{},
	"DeviceList":       client.DeviceList{},
	"VAPIDKey":         client.VAPIDKey{},
	"MessageList":      client.MessageList{},
	"Change":           client.Change{},
	"ChangePage":       client.ChangePage{},
	"Health":           client.Health{},
}

// notBodies are the schemas that are parts of bodies, not bodies.
var notBodies = []string{"Id", "Time", "Username", "Seq", "EventSeq", "MessageBody", "Online", "Error", "ErrorCode"}

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(parley.OpenAPI)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	return doc
}

// TestTypesMatchOpenAPI checks every wire type against its schema: the same
// JSON names both ways, a pointer exactly for the nullable ones, and
// omitempty on the optional fields of requests, so that the client never
// sends what the spec does not allow.
func TestTypesMatchOpenAPI(t *testing.T) {
	doc := loadSpec(t)
	for name := range doc.Components.Schemas {
		if _, ok := wireTypes[name]; !ok && !slices.Contains(notBodies, name) {
			t.Errorf("schema %s has no Go type in wireTypes", name)
		}
	}
	for name, v := range wireTypes {
		ref, ok := doc.Components.Schemas[name]
		if !ok {
			t.Errorf("%T: no schema %s in openapi.yaml", v, name)
			continue
		}
		checkType(t, name, ref.Value, reflect.TypeOf(v))
	}
}

func checkType(t *testing.T, name string, schema *openapi3.Schema, typ reflect.Type) {
	t.Helper()
	fields := map[string]reflect.StructField{}
	omit := map[string]bool{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if tag == "" || tag == "-" {
			continue
		}
		jsonName, opts, _ := strings.Cut(tag, ",")
		fields[jsonName] = f
		omit[jsonName] = strings.Contains(opts, "omitempty")
	}
	request := strings.HasSuffix(name, "Request") || name == "MessageEdit"
	for prop, ref := range schema.Properties {
		f, ok := fields[prop]
		if !ok {
			t.Errorf("%s: property %q has no field in %s", name, prop, typ)
			continue
		}
		ptr := f.Type.Kind() == reflect.Pointer
		if ref.Value.Nullable != ptr {
			t.Errorf("%s.%s: nullable %v, but the Go field's type is %s", name, prop, ref.Value.Nullable, f.Type)
		}
		required := slices.Contains(schema.Required, prop)
		if request && !required && !omit[prop] {
			t.Errorf("%s.%s: optional in the spec, so the field needs omitempty", name, prop)
		}
		if required && omit[prop] && !request {
			t.Errorf("%s.%s: required in the spec, but the field has omitempty", name, prop)
		}
		if ref.Value.Type.Is("array") && ref.Value.Items.Ref != "" {
			elem := ref.Value.Items.Ref[strings.LastIndex(ref.Value.Items.Ref, "/")+1:]
			if want, ok := wireTypes[elem]; ok && f.Type.Elem() != reflect.TypeOf(want) {
				t.Errorf("%s.%s: items are %s, but the field holds %s", name, prop, elem, f.Type.Elem())
			}
		}
	}
	for jsonName := range fields {
		if _, ok := schema.Properties[jsonName]; !ok {
			t.Errorf("%s: field %q of %s is not in the schema", name, jsonName, typ)
		}
	}
}

// operations maps every operationId of openapi.yaml to the Client method
// that performs it, or to "" with the reason in notCovered.
var operations = map[string]string{
	"register":              "Register",
	"login":                 "Login",
	"refreshTokens":         "Refresh",
	"logout":                "Logout",
	"getMe":                 "Me",
	"listUsers":             "Users",
	"getUser":               "User",
	"createChannel":         "CreateChannel",
	"listChannels":          "Channels",
	"joinChannel":           "JoinChannel",
	"leaveChannel":          "LeaveChannel",
	"openDirect":            "OpenDirect",
	"listConversations":     "Conversations",
	"getConversation":       "Conversation",
	"listMembers":           "Members",
	"updateChannel":         "UpdateChannel",
	"getVAPIDKey":           "VAPIDKey",
	"registerDevice":        "RegisterDevice",
	"listDevices":           "Devices",
	"deleteDevice":          "DeleteDevice",
	"markRead":              "MarkRead",
	"createMessage":         "PostMessage",
	"listMessages":          "History",
	"listChanges":           "Changes",
	"getMessages":           "Messages",
	"getMessage":            "Message",
	"updateMessage":         "EditMessage",
	"deleteMessage":         "DeleteMessage",
	"createWebSocketTicket": "WebSocketTicket",
	"openWebSocket":         "Dial",
	"readyz":                "Ready",
}

// notCovered are the operations a Go program has no use for, and why.
var notCovered = map[string]string{
	"streamEvents": "the same frames as the WebSocket, which Dial opens",
	"healthz":      "liveness is for load balancers; Ready says more",
	"getOpenAPI":   "a document for people and tools",
	"getDocs":      "a page for people",
}

// TestEveryOperationHasAMethod checks that the client covers the whole API.
func TestEveryOperationHasAMethod(t *testing.T) {
	doc := loadSpec(t)
	typ := reflect.TypeOf(&client.Client{})
	seen := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			seen[op.OperationID] = true
			if _, ok := notCovered[op.OperationID]; ok {
				continue
			}
			name, ok := operations[op.OperationID]
			if !ok {
				t.Errorf("%s %s (%s): no Client method in operations", method, path, op.OperationID)
				continue
			}
			if _, ok := typ.MethodByName(name); !ok {
				t.Errorf("%s: Client has no method %s", op.OperationID, name)
			}
		}
	}
	for id := range operations {
		if !seen[id] {
			t.Errorf("operations names %s, which openapi.yaml does not have", id)
		}
	}
}
