-- Several senders run at once; a message waits while an earlier one to the same
-- recipients is being sent, so a thread's messages arrive in order. This finds the
-- messages in flight by their recipients.
create index outbox_in_flight on outbox(to_json, lease_until)
    where status = 'pending' and lease_until is not null;
