-- Conversation: who may speak for a case, and cases that need an analyst's look.

create table case_participants (
    case_id integer not null references cases (id),
    address text not null,
    -- reporter | cc
    role text not null,
    added_at text not null,
    primary key (case_id, address)
);

alter table cases add column needs_review integer not null default 0;
