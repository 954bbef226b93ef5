// Package parley is the root of the module. It holds openapi.yaml, the
// description of every request and response of the HTTP API, so that the
// server can serve it and tests can validate against it.
package parley

import _ "embed"

// OpenAPI is openapi.yaml, the OpenAPI 3 description of the HTTP API.
//
//go:embed openapi.yaml
var OpenAPI []byte
