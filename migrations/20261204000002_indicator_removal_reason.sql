-- Why an analyst removed an indicator ("a Microsoft link", "our own proxy"), shown
-- beside it on the case page and kept on its indicator_removed event.
alter table case_indicator_removals add column reason text not null default '';
