-- Report understanding: each message's reading, each case's assessment, attachments by hash.

alter table messages add column analysis_json text;
alter table cases add column assessment_json text not null default '{}';

-- Attachment bytes, once per distinct content.
create table attachment_blobs (
    sha256 text primary key,
    size integer not null,
    data blob not null,
    created_at text not null
);

-- Every attachment of every message, kept or not (over the size limit: recorded only).
create table message_attachments (
    id integer primary key,
    message_row_id integer not null references messages (id),
    name text,
    media_type text not null,
    size integer not null,
    sha256 text not null,
    kept integer not null,
    container text not null
);
create index message_attachments_message on message_attachments (message_row_id);
