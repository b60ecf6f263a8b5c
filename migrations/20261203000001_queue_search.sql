-- The queue's search and views at thousands of cases.
--
-- Search: a full-text index (FTS5, words and word prefixes, accents folded) with one
-- document per case (tracking ID, subject, agency, reporter, field values, indicators)
-- and one per message (subject, sender, the reporter's note, forwarded or attached
-- evidence, indicators, attachment names and hashes). A case's document has the rowid
-- minus the case id; a message's, the message id, so a message found is joined to its
-- case as it is now (after a merge too). Triggers keep it in step with every write;
-- the two views below say once what each document holds.
create virtual table search_text using fts5(body, tokenize = 'unicode61 remove_diacritics 2');

create view search_case_docs as
select c.id as id,
    concat_ws(' ', c.tracking_id, c.subject, c.agency, c.reporter_email, c.reporter_name,
        (select group_concat(json_extract(f.value, '$.value'), ' ')
           from json_each(case when json_valid(c.fields_json) then c.fields_json else '{}' end) f),
        (select group_concat(i.value, ' ')
           from json_each(case when json_valid(c.iocs_json) then c.iocs_json else '{}' end) t,
                json_each(t.value) i
          where t.type = 'array')) as body
from cases c;

create view search_message_docs as
select m.id as id,
    concat_ws(' ', m.subject, m.from_addr,
        (select json_extract(a.j, '$.note')),
        (select group_concat(concat_ws(' ', json_extract(e.value, '$.from'),
                    json_extract(e.value, '$.subject'), json_extract(e.value, '$.text')), ' ')
           from json_each(a.j, '$.evidence') e),
        (select group_concat(i.value, ' ')
           from json_each(a.j, '$.iocs') t, json_each(t.value) i
          where t.type = 'array'),
        (select group_concat(concat_ws(' ', json_extract(x.value, '$.name'),
                    json_extract(x.value, '$.sha256')), ' ')
           from json_each(a.j, '$.attachments') x)) as body
from messages m
join (select id, case when json_valid(analysis_json) then analysis_json else '{}' end as j
        from messages) a on a.id = m.id;

insert into search_text (rowid, body) select -id, body from search_case_docs;
insert into search_text (rowid, body) select id, body from search_message_docs;

create trigger search_case_insert after insert on cases begin
    insert into search_text (rowid, body) select -id, body from search_case_docs where id = new.id;
end;
create trigger search_case_update
after update of tracking_id, subject, agency, reporter_email, reporter_name, fields_json, iocs_json
on cases begin
    delete from search_text where rowid = -old.id;
    insert into search_text (rowid, body) select -id, body from search_case_docs where id = new.id;
end;
create trigger search_case_delete after delete on cases begin
    delete from search_text where rowid = -old.id;
end;

create trigger search_message_insert after insert on messages begin
    insert into search_text (rowid, body) select id, body from search_message_docs where id = new.id;
end;
create trigger search_message_update after update of subject, from_addr, analysis_json on messages begin
    delete from search_text where rowid = old.id;
    insert into search_text (rowid, body) select id, body from search_message_docs where id = new.id;
end;
create trigger search_message_delete after delete on messages begin
    delete from search_text where rowid = old.id;
end;

-- The views and their counts read only these columns, so they never walk the cases'
-- large JSON columns (stored before most of them) or look into other tables for
-- every case. Triggers keep beside each case: the number of details missing; when its
-- SCIO thread last spoke, when the SOC last wrote to the reporter (acknowledgement,
-- follow-up, reminder), and when it last received a message; a dropped message does
-- not count.
alter table cases add column missing_count integer not null default 0;
alter table cases add column last_scio_at text;
alter table cases add column last_asked_at text;
alter table cases add column last_received_at text;

update cases set missing_count = json_array_length(missing_json) where json_valid(missing_json);
create trigger cases_missing_count_insert after insert on cases begin
    update cases set missing_count = case when json_valid(new.missing_json)
        then json_array_length(new.missing_json) else 0 end where id = new.id;
end;
create trigger cases_missing_count_update after update of missing_json on cases begin
    update cases set missing_count = case when json_valid(new.missing_json)
        then json_array_length(new.missing_json) else 0 end where id = new.id;
end;

create view case_clocks as
select c.id as id,
    (select max(o.created_at) from outbox o where o.case_id = c.id
        and o.kind in ('scio_new', 'scio_update') and o.status != 'dropped') as last_scio_at,
    (select max(o.created_at) from outbox o where o.case_id = c.id
        and o.kind in ('ack', 'followup', 'reminder') and o.status != 'dropped') as last_asked_at,
    (select max(m.received_at) from messages m where m.case_id = c.id) as last_received_at
from cases c;

update cases set (last_scio_at, last_asked_at, last_received_at) =
    (select k.last_scio_at, k.last_asked_at, k.last_received_at from case_clocks k
      where k.id = cases.id);
create trigger case_clocks_outbox_insert after insert on outbox when new.case_id is not null begin
    update cases set (last_scio_at, last_asked_at, last_received_at) =
        (select k.last_scio_at, k.last_asked_at, k.last_received_at from case_clocks k
          where k.id = cases.id) where id = new.case_id;
end;
create trigger case_clocks_outbox_update after update of status, case_id on outbox begin
    update cases set (last_scio_at, last_asked_at, last_received_at) =
        (select k.last_scio_at, k.last_asked_at, k.last_received_at from case_clocks k
          where k.id = cases.id) where id in (new.case_id, old.case_id);
end;
create trigger case_clocks_message_insert after insert on messages when new.case_id is not null begin
    update cases set (last_scio_at, last_asked_at, last_received_at) =
        (select k.last_scio_at, k.last_asked_at, k.last_received_at from case_clocks k
          where k.id = cases.id) where id = new.case_id;
end;
create trigger case_clocks_message_update after update of case_id on messages begin
    update cases set (last_scio_at, last_asked_at, last_received_at) =
        (select k.last_scio_at, k.last_asked_at, k.last_received_at from case_clocks k
          where k.id = cases.id) where id in (new.case_id, old.case_id);
end;

create index cases_queue on cases (merged_into, status, assignee, priority, severity,
    severity_suggested, created_at, needs_review, agency, category, missing_count,
    last_scio_at, last_asked_at, last_received_at);
create index cases_agency on cases (agency);
create index cases_category on cases (category);
create index outbox_case_spoke on outbox (case_id, kind, status, created_at);
create index messages_case_received on messages (case_id, received_at);

-- An analyst's own queue views: a name and the queue's query string.
create table saved_views (
    id integer primary key,
    username text not null,
    name text not null,
    query text not null,
    created_at text not null,
    unique (username, name)
);
