-- A message whose sender died mid-send (its lease ran out with no outcome recorded) may
-- or may not have been accepted by the SMTP server. Where the server files a copy of
-- what we send ([imap] sent_mailbox), that folder is searched for its Message-ID
-- before it is sent again; doubt_checked records that the search was made.
alter table outbox add column doubt_checked integer not null default 0;
