-- When a message left the IMAP intake folder, apart from `messages`: SQLite rewrites
-- a whole row on update, so setting `messages.moved_at` wrote the raw bytes again.
create table message_moves (
    message_row_id integer primary key references messages (id),
    moved_at text not null
);
insert into message_moves (message_row_id, moved_at)
    select id, moved_at from messages where moved_at is not null;
