-- Review web UI and JSON API: accounts, server-side sessions, API tokens, audit trail.

create table users (
    id integer primary key,
    name text not null unique,
    -- analyst | viewer
    role text not null,
    -- argon2 PHC string
    password_hash text not null,
    disabled integer not null default 0,
    created_at text not null,
    updated_at text not null
);

-- A session is known by the SHA-256 of its cookie value, never the value itself.
create table web_sessions (
    id_sha256 text primary key,
    user_id integer not null references users (id),
    csrf_token text not null,
    created_at text not null,
    last_seen_at text not null,
    expires_at text not null
);
create index web_sessions_user on web_sessions (user_id);

-- Integration tokens, kept as SHA-256 only.
create table api_tokens (
    id integer primary key,
    user_id integer not null references users (id),
    token_sha256 text not null unique,
    created_at text not null,
    last_used_at text
);

-- Every login, failed login, logout and action taken through the web UI or API.
create table audit (
    id integer primary key,
    at text not null,
    -- the account name given (for a failed login: as typed)
    username text not null,
    action text not null,
    ip text,
    case_id integer references cases (id),
    detail_json text not null default '{}'
);
create index audit_login on audit (action, username, at);
create index audit_ip on audit (action, ip, at);
