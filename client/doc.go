// Package client is the Go client of Parley: every operation of the REST
// API (openapi.yaml) as a method of Client, the event channel (Dial), and
// Subscription, which follows the event channel and runs the sync protocol
// of asyncapi.yaml so that a program sees every change exactly once, in
// order per conversation, across disconnects.
//
// A Client holds one login. It renews the access token shortly before it
// expires, once however many goroutines need a token at the same time, and
// keeps the rotated refresh token; a SessionStore lets several processes
// share one login without using a refresh token twice (which would end it).
//
// Errors are *Error when the server refused a request (switch on its Code,
// a model.Code, or show its Message), *NetError when the server could not
// be reached, and ErrLoggedOut when the login has ended.
//
// The protocol, for those writing a client in another language:
//
//  1. Open GET /api/v1/ws with the access token. The first frame is hello.
//  2. After hello (every connect and reconnect) and after resync, page
//     GET /api/v1/conversations. A conversation not held yet is new: show
//     it and its latest messages. One held but no longer listed is gone.
//     One whose last_event_seq is past the last event_seq held has changed:
//     page GET /conversations/{id}/changes?after=<held> and fetch the
//     messages named with GET /messages?ids=.
//  3. Between syncs, a message.created, .updated or .deleted frame with
//     the next event_seq of its conversation names one change: fetch that
//     message. One at or below the held event_seq is old news. One past the
//     next means frames were lost: page the changes feed as in 2.
//
// This package imports only the standard library, Parley's model and the
// WebSocket library.
package client
