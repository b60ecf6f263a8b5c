-- The queue's search and views at thousands of cases.
--
-- Search: a full-text index (FTS5, words and word prefixes, accents folded) with one
-- document per case (tracking ID, subject, agency, reporter) and one per message: its
-- `search_body`, which intake writes with the message (subject, sender, the reporter's
-- note, forwarded or attached evidence, indicators, attachment names and hashes; each
-- text cut to its first 20,000 characters and the whole to 65,536, so a hostile
-- megabyte costs no more than a report). A case's document has the rowid minus the case
-- id; a message's, the message id, so a message found is joined to its case as it is
-- now (after a merge too). Triggers keep the index in step with every write; no JSON is
-- read on the way (a document made from a large analysis in SQL cost intake memory).
create virtual table search_text using fts5(body, tokenize = 'unicode61 remove_diacritics 2');
alter table messages add column search_body text;

-- Messages stored before this migration: their document made once from the analysis.
update messages set search_body = (
    select substr(concat_ws(' ', messages.subject, messages.from_addr,
        substr(json_extract(a.j, '$.note'), 1, 20000),
        (select group_concat(concat_ws(' ', json_extract(e.value, '$.from'),
                    json_extract(e.value, '$.subject'),
                    substr(json_extract(e.value, '$.text'), 1, 20000)), ' ')
           from json_each(a.j, '$.evidence') e),
        (select group_concat(i.value, ' ')
           from json_each(a.j, '$.iocs') t, json_each(t.value) i where t.type = 'array'),
        (select group_concat(concat_ws(' ', json_extract(x.value, '$.name'),
                    json_extract(x.value, '$.sha256')), ' ')
           from json_each(a.j, '$.attachments') x)), 1, 65536)
      from (select case when json_valid(messages.analysis_json)
                   then messages.analysis_json else '{}' end as j) a);

insert into search_text (rowid, body)
    select -id, concat_ws(' ', tracking_id, subject, agency, reporter_email, reporter_name)
      from cases;
insert into search_text (rowid, body)
    select id, coalesce(search_body, concat_ws(' ', subject, from_addr)) from messages;

create trigger search_case_insert after insert on cases begin
    insert into search_text (rowid, body) values (-new.id,
        concat_ws(' ', new.tracking_id, new.subject, new.agency, new.reporter_email, new.reporter_name));
end;
create trigger search_case_update
after update of tracking_id, subject, agency, reporter_email, reporter_name on cases begin
    delete from search_text where rowid = -old.id;
    insert into search_text (rowid, body) values (-new.id,
        concat_ws(' ', new.tracking_id, new.subject, new.agency, new.reporter_email, new.reporter_name));
end;
create trigger search_case_delete after delete on cases begin
    delete from search_text where rowid = -old.id;
end;

create trigger search_message_insert after insert on messages begin
    insert into search_text (rowid, body)
        values (new.id, coalesce(new.search_body, concat_ws(' ', new.subject, new.from_addr)));
end;
create trigger search_message_update after update of subject, from_addr, search_body on messages begin
    delete from search_text where rowid = old.id;
    insert into search_text (rowid, body)
        values (new.id, coalesce(new.search_body, concat_ws(' ', new.subject, new.from_addr)));
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
