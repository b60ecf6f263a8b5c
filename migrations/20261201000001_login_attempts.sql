-- Login attempts, counted for the rate limit. An attempt is reserved (pending) in the
-- same write transaction that counts the recent ones, before the password is checked,
-- so parallel guesses cannot all pass the count at once. The audit table keeps the
-- history; this table is only the limiter's state.
create table login_attempts (
    id integer primary key,
    username text not null,
    ip text not null,
    at text not null,
    outcome text not null default 'pending' check (outcome in ('pending', 'failed', 'ok'))
);
create index login_attempts_by_name on login_attempts (username, at);
create index login_attempts_by_ip on login_attempts (ip, at);
