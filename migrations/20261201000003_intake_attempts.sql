-- Messages intake started on and did not finish (the process died in the middle:
-- a crash, an out-of-memory kill, a hang that was killed). A message that keeps
-- killing intake is stored raw, unanalysed and quarantined after a few tries, so one
-- message cannot stop the mailbox. A row is removed once its message is stored.
create table intake_attempts (
    mailbox text not null,
    uid_validity integer not null,
    uid integer not null,
    attempts integer not null,
    first_at text not null,
    last_at text not null,
    primary key (mailbox, uid_validity, uid)
);
