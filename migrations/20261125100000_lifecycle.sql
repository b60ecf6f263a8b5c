-- Lifecycle: flags on cases, escalation notices sent once per case and cause, and
-- which participants have proven who they are.

create table case_flags (
    case_id integer not null references cases (id),
    -- major_incident | personal_information | law_enforcement_contacted | external_communications
    flag text not null,
    set_at text not null,
    set_by text not null,
    primary key (case_id, flag)
);

-- One row per escalation notice queued: it is never queued twice for the same cause.
create table case_escalations (
    case_id integer not null references cases (id),
    -- major_incident | data_loss | law_enforcement | external_communications
    cause text not null,
    outbox_id integer references outbox (id),
    at text not null,
    primary key (case_id, cause)
);

-- Set when a message from this participant passed sender verification.
alter table case_participants add column verified_at text;

create index outbox_case_kind on outbox (case_id, kind, id);
