-- On a server without MOVE a message is copied to the processed folder, flagged
-- \Deleted and expunged in separate steps. The copy is remembered here, so a crash
-- before the expunge does not copy it a second time.
create table imap_copied (
    mailbox text not null,
    uid_validity integer not null,
    uid integer not null,
    copied_at text not null,
    primary key (mailbox, uid_validity, uid)
);
