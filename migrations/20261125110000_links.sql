-- Related cases: links (both directions stored) and merges (the merged case points to
-- the case that absorbed its messages; mail about it is routed there).

create table case_links (
    case_id integer not null references cases (id),
    other_id integer not null references cases (id),
    created_at text not null,
    created_by text not null,
    primary key (case_id, other_id)
);

alter table cases add column merged_into integer references cases (id);
