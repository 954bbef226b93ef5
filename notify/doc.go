// Package notify delivers real-time events to WebSocket clients. It owns the
// Hub (this instance's connections and the conversations their users are
// in), the Broker that carries events between instances (Redis, or in memory
// for a single instance), and the frames of the event channel described in
// asyncapi.yaml.
//
// It imports model and its drivers only: never db, api or cmd. The api
// package authenticates, accepts the WebSocket and hands it to Hub.Serve;
// handlers publish with Hub.Publish after their transaction commits.
package notify
