package notify

import (
	"context"
	"sync"

	"parley/model"
)

// Presence records which users have live connections on any instance. The
// Hub (see Config.Presence) reports each user's first and last ready
// connection here, refreshes its records every Config.PresenceInterval,
// and reaps the records of instances that died. RedisPresence shares the
// records between instances; MemoryPresence serves one.
//
// Online is what api.Presence asks: pass the same value to the api.
type Presence interface {
	// Online reports, for each of users, whether they have a live
	// connection on any instance now, in O(1) round trips.
	Online(ctx context.Context, users []model.UserID) (map[model.UserID]bool, error)
	// Join records that users have connections on this instance, and that
	// this instance is alive. The Hub calls it again with all its users
	// every Config.PresenceInterval, so the records of an instance that
	// stops calling expire. It returns the users who had no record on any
	// instance before: they came online.
	Join(ctx context.Context, users []model.UserID) (cameOnline []model.UserID, err error)
	// Leave records that users have no connection left on this instance.
	// It returns the users who now have none on any instance: they went
	// offline.
	Leave(ctx context.Context, users []model.UserID) (wentOffline []model.UserID, err error)
	// Reap removes what instances that stopped calling Join (killed,
	// crashed, or shut down) left behind, and returns the users who were
	// online only there. Each dead instance is reaped by one caller.
	Reap(ctx context.Context) (wentOffline []model.UserID, err error)
}

// MemoryPresence is a Presence for a single instance: one Hub reports to
// it. It starts no goroutines; its memory holds the users online.
type MemoryPresence struct {
	mu     sync.Mutex
	online map[model.UserID]struct{}
}

var _ Presence = (*MemoryPresence)(nil)

// NewMemoryPresence returns a Presence for one instance.
func NewMemoryPresence() *MemoryPresence {
	return &MemoryPresence{online: make(map[model.UserID]struct{})}
}

// Online reports which of users are online.
func (p *MemoryPresence) Online(_ context.Context, users []model.UserID) (map[model.UserID]bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[model.UserID]bool, len(users))
	for _, u := range users {
		_, m[u] = p.online[u]
	}
	return m, nil
}

// Join records users online and returns those who were not.
func (p *MemoryPresence) Join(_ context.Context, users []model.UserID) ([]model.UserID, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var came []model.UserID
	for _, u := range users {
		if _, ok := p.online[u]; !ok {
			p.online[u] = struct{}{}
			came = append(came, u)
		}
	}
	return came, nil
}

// Leave records users offline and returns those who were online.
func (p *MemoryPresence) Leave(_ context.Context, users []model.UserID) ([]model.UserID, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var gone []model.UserID
	for _, u := range users {
		if _, ok := p.online[u]; ok {
			delete(p.online, u)
			gone = append(gone, u)
		}
	}
	return gone, nil
}

// Reap has nothing to do: there are no other instances.
func (p *MemoryPresence) Reap(context.Context) ([]model.UserID, error) {
	return nil, nil
}
