package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// apiClient calls the Parley API under base (…/api/v1).
type apiClient struct {
	base string
	http *http.Client
}

// benchUser is one load client: a user, its token and its channel, and the
// connection its measured requests go over.
type benchUser struct {
	index   int
	userID  int64
	convID  int64
	auth    string // "Bearer …"
	msgPath string // /conversations/{convID}/messages
	conn    *loadConn
}

// messagesPath is the path, under /api/v1, of conversation id's messages.
func messagesPath(id int64) string {
	return "/conversations/" + strconv.FormatInt(id, 10) + "/messages"
}

// setup registers the users, has each create its channel, checks that both
// id ranges are contiguous, and seeds every channel.
func setup(ctx context.Context, api *apiClient, cfg config) ([]*benchUser, error) {
	users := make([]*benchUser, cfg.clients)
	for i := range users {
		var tokens struct {
			AccessToken string `json:"access_token"`
			User        struct {
				ID int64 `json:"id"`
			} `json:"user"`
		}
		req := map[string]string{"username": fmt.Sprintf("u%03d", i), "password": cfg.password}
		if err := api.call(ctx, http.MethodPost, "/auth/register", "", req, http.StatusCreated, &tokens); err != nil {
			return nil, fmt.Errorf("register u%03d (needs a fresh database): %w", i, err)
		}
		users[i] = &benchUser{index: i, userID: tokens.User.ID, auth: "Bearer " + tokens.AccessToken}
	}
	for i, u := range users {
		var conv struct {
			ID   int64  `json:"id"`
			Kind string `json:"kind"`
		}
		req := map[string]string{"name": fmt.Sprintf("c%03d", i)}
		if err := api.call(ctx, http.MethodPost, "/channels", u.auth, req, http.StatusCreated, &conv); err != nil {
			return nil, fmt.Errorf("create channel c%03d: %w", i, err)
		}
		u.convID = conv.ID
		u.msgPath = messagesPath(conv.ID)
	}
	// Everyone joins c000 too, the one busy channel of the post-one phase.
	for i, u := range users[1:] {
		if err := api.call(ctx, http.MethodPut, "/channels/"+strconv.FormatInt(users[0].convID, 10)+"/members/me",
			u.auth, nil, http.StatusOK, nil); err != nil {
			return nil, fmt.Errorf("u%03d joins c000: %w", i+1, err)
		}
	}
	for i, u := range users {
		if u.userID != users[0].userID+int64(i) || u.convID != users[0].convID+int64(i) {
			return nil, fmt.Errorf("ids are not contiguous: client %d has user %d and conversation %d, want %d and %d "+
				"(pgbench maps client i to user_base+i and conv_base+i; use a fresh database and nothing else writing to it)",
				i, u.userID, u.convID, users[0].userID+int64(i), users[0].convID+int64(i))
		}
	}

	errs := make([]error, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() {
			for k := range cfg.seed {
				req := map[string]string{"body": cfg.body, "client_msg_id": "s-" + strconv.Itoa(k)}
				if err := api.call(ctx, http.MethodPost, u.msgPath, u.auth, req, http.StatusCreated, nil); err != nil {
					errs[i] = fmt.Errorf("seed channel c%03d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return users, checkHistory(ctx, api, users[0], cfg.seed)
}

// checkHistory makes sure the history endpoint returns what the history
// phase assumes: the latest page, oldest first, ending at the newest seq.
func checkHistory(ctx context.Context, api *apiClient, u *benchUser, seeded int) error {
	var page struct {
		Items []struct {
			Seq int64 `json:"seq"`
		} `json:"items"`
	}
	if err := api.call(ctx, http.MethodGet, u.msgPath, u.auth, nil, http.StatusOK, &page); err != nil {
		return fmt.Errorf("read history: %w", err)
	}
	n := len(page.Items)
	if seeded > 0 && (n == 0 || page.Items[n-1].Seq != int64(seeded) || page.Items[0].Seq != int64(seeded-n+1)) {
		return fmt.Errorf("history of a channel with %d messages returned %d items %v, want the latest page oldest first",
			seeded, n, page.Items)
	}
	return nil
}

// call sends in as JSON (unless nil), fails unless the status is want, and
// decodes the JSON response into out (unless nil).
func (a *apiClient) call(ctx context.Context, method, path, auth string, in any, want int, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	resp, err := a.do(ctx, method, path, auth, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return statusError(resp, want)
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (a *apiClient) do(ctx context.Context, method, path, auth string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return nil, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return a.http.Do(req)
}

// statusError describes an unexpected response with the start of its body
// (an API error object).
func statusError(resp *http.Response, want int) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	return fmt.Errorf("%s %s: got status %d, want %d: %s",
		resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, bytes.TrimSpace(b))
}
