-- Large raw messages are stored in 1 MiB chunks beside the row (messages.raw is then
-- empty and raw_chunks counts them): binding one multi-megabyte blob made SQLite hold
-- two more copies of it at once, so a 25 MB attachment cost several times its size in
-- memory. Small messages keep their bytes in messages.raw.
alter table messages add column raw_chunks integer not null default 0;
create table message_raw_chunks (
    message_row_id integer not null references messages (id) on delete cascade,
    seq integer not null,
    data blob not null,
    primary key (message_row_id, seq)
);

-- The same for kept attachments (attachment_blobs.data empty, chunks counted).
alter table attachment_blobs add column chunks integer not null default 0;
create table attachment_blob_chunks (
    sha256 text not null references attachment_blobs (sha256) on delete cascade,
    seq integer not null,
    data blob not null,
    primary key (sha256, seq)
);
