// Package notify delivers real-time events to WebSocket and Server-Sent
// Events clients. It owns the Hub (this instance's connections and the
// conversations their users are in), the Broker that carries events between
// instances (Redis, or in memory for a single instance), the frames of the
// event channel described in asyncapi.yaml, and the live session state that
// instances share: presence (who is connected anywhere) and the single-use
// tickets that open a WebSocket from a browser.
//
// It imports model and its drivers only: never db, api or cmd. The api
// package authenticates, accepts the WebSocket and hands it to Hub.Serve
// (or reads Hub.Stream for Server-Sent Events); handlers publish with
// Hub.Publish after their transaction commits.
package notify
