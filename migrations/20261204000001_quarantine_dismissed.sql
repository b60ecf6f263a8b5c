-- An analyst's decision on a quarantined message: "not an incident" keeps the message
-- (nothing is deleted) and takes it off the quarantine's open list, with who said so
-- and why. Opening a case from it needs no column: the message joins the new case.
alter table messages add column dismissed_at text;
alter table messages add column dismissed_by text;
alter table messages add column dismiss_note text;
