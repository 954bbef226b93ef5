// Package notify delivers real-time events to WebSocket and Server-Sent
// Events clients. It owns the transport end to end (the WebSocket upgrade,
// its buffers, deadlines, pings and close codes), the Hub (this instance's
// connections and the conversations their users are in), the Broker that
// carries events between instances (Redis, or in memory for a single
// instance), the frames of the event channel described in asyncapi.yaml,
// and presence (who is connected anywhere).
//
// It imports model and its drivers only: never db, api or cmd. The api
// package authenticates the request (Origin, credentials, live login) and
// hands it to Hub.ServeWebSocket (or reads Hub.Stream for Server-Sent
// Events); handlers publish with Hub.Publish after their transaction
// commits.
package notify
