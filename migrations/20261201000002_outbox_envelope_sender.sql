-- Bounces are matched by the envelope sender (VERP address) each outbound message
-- was sent with (outbox.from_addr).
create index outbox_by_envelope_sender on outbox (from_addr);
