-- Set when a message was deferred because the SMTP server could not be reached (no
-- connection, no answer, 421): the next successful send makes it due at once.
alter table outbox add column deferred_unreachable integer not null default 0;
