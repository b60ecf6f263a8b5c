-- Who released a held message: the worker sends mail outside the disclosure rule only
-- when an analyst released it.
alter table outbox add column released_by text;
