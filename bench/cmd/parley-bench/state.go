package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// savedUser is one benchUser as -state keeps it.
type savedUser struct {
	UserID int64  `json:"user_id"`
	ConvID int64  `json:"conv_id"`
	Auth   string `json:"auth"`
}

// loadState returns the users that path keeps, and false if there is no
// path or no file there yet.
func loadState(path string) ([]*benchUser, bool, error) {
	if path == "" {
		return nil, false, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var saved []savedUser
	if err := json.Unmarshal(b, &saved); err != nil || len(saved) == 0 {
		return nil, false, fmt.Errorf("-state %s: not a saved setup", path)
	}
	users := make([]*benchUser, len(saved))
	for i, s := range saved {
		users[i] = &benchUser{index: i, userID: s.UserID, convID: s.ConvID, auth: s.Auth, msgPath: messagesPath(s.ConvID)}
	}
	return users, true, nil
}

// saveState writes users to path, readable by its owner only: it holds
// their access tokens. It does nothing without a path.
func saveState(path string, users []*benchUser) error {
	if path == "" {
		return nil
	}
	saved := make([]savedUser, len(users))
	for i, u := range users {
		saved[i] = savedUser{UserID: u.userID, ConvID: u.convID, Auth: u.auth}
	}
	b, err := json.Marshal(saved)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
