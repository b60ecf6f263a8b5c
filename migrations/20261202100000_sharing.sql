-- Sharing with partners (issue 14): indicators an analyst marked as removed (false
-- positives, never exported) and the TLP a case is shared under.
create table case_indicator_removals (
    case_id integer not null references cases (id),
    -- the kind as in iocs_json: ipv4, domains, urls, emails, md5, sha1, sha256, cves
    kind text not null,
    value text not null,
    removed_by text not null,
    removed_at text not null,
    primary key (case_id, kind, value)
);

-- null: [sharing] default_tlp
alter table cases add column tlp text;
