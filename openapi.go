// Package parley is the root of the module. It holds the API contracts:
// openapi.yaml, every request and response of the HTTP API, and
// asyncapi.yaml, every frame of the event channel, so that the server can
// serve them and tests can validate against them.
package parley

import _ "embed"

// OpenAPI is openapi.yaml, the OpenAPI 3 description of the HTTP API.
//
//go:embed openapi.yaml
var OpenAPI []byte

// AsyncAPI is asyncapi.yaml, the AsyncAPI 3 description of the event channel.
//
//go:embed asyncapi.yaml
var AsyncAPI []byte
