-- Accounts, logins, conversations, memberships and messages.

CREATE TABLE users (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	username      text NOT NULL,
	display_name  text NOT NULL,
	password_hash text NOT NULL,
	is_admin      boolean NOT NULL DEFAULT false,
	created_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username) text_pattern_ops);
CREATE INDEX users_display_name_idx ON users (lower(display_name) text_pattern_ops);

-- A session is one login; its refresh tokens rotate on every use.
CREATE TABLE sessions (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	created_at timestamptz NOT NULL,
	revoked_at timestamptz
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE refresh_tokens (
	hash       bytea PRIMARY KEY, -- SHA-256 of the opaque token
	session_id bigint NOT NULL REFERENCES sessions ON DELETE CASCADE,
	expires_at timestamptz NOT NULL,
	used_at    timestamptz
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

CREATE TABLE conversations (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind       text NOT NULL CHECK (kind IN ('direct', 'channel')),
	name       text,                 -- channels only
	topic      text NOT NULL DEFAULT '',
	direct_key text UNIQUE,          -- direct only: 'smaller_user_id:larger_user_id'
	last_seq   bigint NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL,
	CHECK ((kind = 'channel') = (name IS NOT NULL)),
	CHECK ((kind = 'direct') = (direct_key IS NOT NULL))
);
CREATE UNIQUE INDEX conversations_channel_name_key ON conversations (lower(name)) WHERE kind = 'channel';

CREATE TABLE members (
	conversation_id bigint NOT NULL REFERENCES conversations ON DELETE CASCADE,
	user_id         bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	joined_at       timestamptz NOT NULL,
	last_read_seq   bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX members_user_id_idx ON members (user_id);

CREATE TABLE messages (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	conversation_id bigint NOT NULL REFERENCES conversations ON DELETE CASCADE,
	seq             bigint NOT NULL,
	sender_id       bigint NOT NULL REFERENCES users,
	body            text NOT NULL,
	client_msg_id   text,
	created_at      timestamptz NOT NULL,
	edited_at       timestamptz,
	deleted_at      timestamptz,
	UNIQUE (conversation_id, seq)
);
CREATE UNIQUE INDEX messages_client_msg_id_key ON messages (conversation_id, sender_id, client_msg_id)
	WHERE client_msg_id IS NOT NULL;
