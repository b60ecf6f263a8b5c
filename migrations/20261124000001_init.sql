-- incident-gateway schema, version 1.
-- Naming: plural table names, snake_case columns, timestamps as RFC 3339 UTC text
-- ("2026-03-10T13:45:00.123Z"), JSON documents in *_json text columns.
-- Never edit a migration that has run; add a new one.

create table tracking_sequences (
    prefix text not null,
    year integer not null,
    last integer not null,
    primary key (prefix, year)
);

create table cases (
    id integer primary key,
    tracking_id text not null unique,
    status text not null default 'new',
    severity text,
    severity_suggested text,
    priority text,
    category text,
    agency text,
    assignee text,
    reporter_email text,
    reporter_name text,
    subject text not null,
    -- the extraction: {name: {value, source}}, [missing], {type: [values]}
    fields_json text not null default '{}',
    missing_json text not null default '[]',
    iocs_json text not null default '{}',
    reporter_undeliverable integer not null default 0,
    created_at text not null,
    updated_at text not null
);
create index cases_status on cases (status);

-- Every inbound message, byte for byte, whether or not it belongs to a case.
create table messages (
    id integer primary key,
    case_id integer references cases (id),
    kind text not null,
    -- why the message got no automatic answer / is in quarantine
    quarantine_reason text,
    origin text not null,
    mailbox text,
    uid_validity integer,
    uid integer,
    message_id text,
    content_hash text not null,
    from_addr text,
    subject text,
    sent_date text,
    in_reply_to text,
    references_json text not null default '[]',
    parse_notes_json text not null default '[]',
    attachments_json text not null default '[]',
    size integer not null,
    raw blob not null,
    received_at text not null,
    moved_at text
);
create unique index messages_dedupe on messages (coalesce(message_id, ''), content_hash);
create unique index messages_imap_uid on messages (mailbox, uid_validity, uid);
create index messages_case on messages (case_id);
create index messages_message_id on messages (message_id);

-- Append-only record of everything that happened to a case.
create table events (
    id integer primary key,
    case_id integer not null references cases (id),
    at text not null,
    actor text not null,
    kind text not null,
    detail_json text not null default '{}',
    message_row_id integer references messages (id),
    outbox_id integer references outbox (id)
);
create index events_case on events (case_id, id);

-- Outbound mail: written in the transaction that caused it, sent by the worker.
create table outbox (
    id integer primary key,
    case_id integer references cases (id),
    kind text not null,
    message_id text not null unique,
    from_addr text not null,
    -- the primary recipient, lower-cased (rate limits, review)
    recipient text not null,
    to_json text not null,
    subject text not null,
    raw blob not null,
    status text not null default 'pending',
    hold_reason text,
    attempts integer not null default 0,
    next_attempt_at text not null,
    lease_until text,
    last_error text,
    created_at text not null,
    sent_at text,
    caused_by_message integer references messages (id)
);
create index outbox_due on outbox (status, next_attempt_at);
create index outbox_recipient on outbox (recipient, kind, created_at);

-- What intake last saw of each IMAP folder (observability; dedupe is by messages).
create table imap_state (
    mailbox text primary key,
    uid_validity integer not null,
    last_uid integer not null,
    last_poll_at text not null
);
