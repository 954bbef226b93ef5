package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"parley/auth"
	"parley/model"
)

type tokensResponse struct {
	AccessToken  string       `json:"access_token"`
	RefreshToken string       `json:"refresh_token"`
	TokenType    string       `json:"token_type"`
	ExpiresIn    int64        `json:"expires_in"`
	User         userResponse `json:"user"`
}

// toTokensResponse signs an access token for user's login session and
// returns it with refresh, that login's current refresh token.
func toTokensResponse(cfg Config, user model.User, session model.SessionID, refresh string) (tokensResponse, error) {
	access, err := auth.NewAccessToken(cfg.JWTSecret, auth.Claims{UserID: user.ID, SessionID: session}, cfg.Now())
	if err != nil {
		return tokensResponse{}, err
	}
	return tokensResponse{
		AccessToken:  access,
		RefreshToken: refresh,
		TokenType:    "Bearer",
		ExpiresIn:    int64(model.AccessTokenTTL.Seconds()),
		User:         toUserResponse(user),
	}, nil
}

// startSession logs user in: a new session with its first refresh token.
func startSession(ctx context.Context, cfg Config, store Store, user model.User) (tokensResponse, error) {
	refresh, stored := auth.NewRefreshToken(cfg.Now())
	session, err := store.CreateSession(ctx, user.ID, stored)
	if err != nil {
		return tokensResponse{}, fmt.Errorf("create session: %w", err)
	}
	return toTokensResponse(cfg, user, session, refresh)
}

// limitAuth charges an attempt to register or log in (action) both to the
// client's IP and to the username it names.
func limitAuth(w http.ResponseWriter, r *http.Request, cfg Config, limiter Limiter, action, username string) error {
	if err := limit(r.Context(), w, limiter, action+":ip:"+clientIP(r, cfg), cfg.Limits.AuthPerIP); err != nil {
		return err
	}
	return limit(r.Context(), w, limiter, action+":user:"+strings.ToLower(username), cfg.Limits.AuthPerUsername)
}

// handleRegister serves POST /api/v1/auth/register.
func handleRegister(cfg Config, store Store, limiter Limiter) handlerFunc {
	type request struct {
		Username    string `json:"username"`
		Password    string `json:"password"`
		DisplayName string `json:"display_name"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		if req.Username, err = enforceName("username", req.Username); err != nil {
			return err
		}
		if err := model.ValidateUsername(req.Username); err != nil {
			return err
		}
		if err := model.ValidatePassword(req.Password); err != nil {
			return err
		}
		displayName, err := model.NormalizeDisplayName(req.DisplayName)
		if err != nil {
			return err
		}
		if displayName == "" {
			displayName = req.Username
		}
		if err := limitAuth(w, r, cfg, limiter, "register", req.Username); err != nil {
			return err
		}
		var hash string
		if err := cfg.hashes.do(r.Context(), w, func() { hash, err = auth.HashPassword(req.Password) }); err != nil {
			return err
		}
		if err != nil {
			return err
		}
		user, err := store.CreateUser(r.Context(), model.NewUser{Username: req.Username, DisplayName: displayName, PasswordHash: hash})
		if err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		tokens, err := startSession(r.Context(), cfg, store, user)
		if err != nil {
			return err
		}
		return encode(w, http.StatusCreated, tokens)
	}
}

// errBadLogin is the one answer to a wrong username or a wrong password, so
// that login does not tell which usernames exist.
var errBadLogin = model.Errorf(model.EUnauthenticated, "Wrong username or password.")

// handleLogin serves POST /api/v1/auth/login.
func handleLogin(cfg Config, store Store, limiter Limiter) handlerFunc {
	type request struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		if req.Username, err = enforceName("username", req.Username); err != nil {
			return err
		}
		if err := model.ValidateUsername(req.Username); err != nil {
			return err
		}
		if req.Password == "" || len(req.Password) > model.MaxPasswordBytes {
			return model.FieldError("password", "must be 1–256 bytes")
		}
		if err := limitAuth(w, r, cfg, limiter, "login", req.Username); err != nil {
			return err
		}
		user, hash, err := store.GetUserCredentials(r.Context(), req.Username)
		if model.ErrorCode(err) == model.ENotFound {
			if err := cfg.hashes.do(r.Context(), w, func() { auth.DummyVerify(req.Password) }); err != nil {
				return err
			}
			return errBadLogin
		}
		if err != nil {
			return fmt.Errorf("get user credentials: %w", err)
		}
		var ok bool
		if err := cfg.hashes.do(r.Context(), w, func() { ok, err = auth.VerifyPassword(hash, req.Password) }); err != nil {
			return err
		}
		if err != nil {
			return err
		}
		if !ok {
			return errBadLogin
		}
		tokens, err := startSession(r.Context(), cfg, store, user)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, tokens)
	}
}

// maxRefreshTokenLen bounds what is hashed and looked up as a refresh token;
// real ones are 43 bytes.
const maxRefreshTokenLen = 512

// refreshRequest is the body of both refresh and logout.
type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// hash validates the token and returns the hash the store knows it by.
func (req refreshRequest) hash() ([]byte, error) {
	if req.RefreshToken == "" || len(req.RefreshToken) > maxRefreshTokenLen {
		return nil, model.FieldError("refresh_token", "must be a refresh token")
	}
	return auth.HashRefreshToken(req.RefreshToken), nil
}

// handleRefresh serves POST /api/v1/auth/refresh. A reused refresh token
// revokes its login, whose live connections are then closed.
func handleRefresh(cfg Config, store Store, notifier Notifier) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[refreshRequest](w, r)
		if err != nil {
			return err
		}
		old, err := req.hash()
		if err != nil {
			return err
		}
		refresh, stored := auth.NewRefreshToken(cfg.Now())
		userID, session, err := store.RotateRefreshToken(r.Context(), old, stored)
		if err != nil {
			if session != 0 { // reuse: the store revoked this login
				closeSession(r, notifier, userID, session, reasonLoginRevoked)
			}
			return fmt.Errorf("rotate refresh token: %w", err)
		}
		user, err := store.GetUser(r.Context(), userID)
		if err != nil {
			return fmt.Errorf("get user: %w", err)
		}
		tokens, err := toTokensResponse(cfg, user, session, refresh)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, tokens)
	}
}

// handleLogout serves POST /api/v1/auth/logout. The login's live
// connections are closed too.
func handleLogout(store Store, notifier Notifier) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[refreshRequest](w, r)
		if err != nil {
			return err
		}
		hash, err := req.hash()
		if err != nil {
			return err
		}
		user, session, err := store.RevokeSessionByRefreshToken(r.Context(), hash)
		if err != nil {
			return fmt.Errorf("revoke session: %w", err)
		}
		closeSession(r, notifier, user, session, reasonLoggedOut)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}
