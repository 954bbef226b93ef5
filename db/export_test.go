package db

import "context"

// Setting returns a run-time parameter of one of s's connections.
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.db.GetContext(ctx, &v, "SELECT current_setting($1)", name)
	return v, err
}

// QueuedPosts returns how many CreateMessage calls wait for a batch.
func (s *Store) QueuedPosts() int {
	s.posts.mu.Lock()
	defer s.posts.mu.Unlock()
	return len(s.posts.waiting)
}
