DROP INDEX tickets_team_snoozed_desc_idx;
DROP INDEX tickets_team_snoozed_asc_idx;
DROP INDEX tickets_team_sla_desc_idx;
DROP INDEX tickets_team_sla_asc_idx;
DROP INDEX messages_content_trgm_idx;
DROP INDEX tickets_email_subject_trgm_idx;
DROP INDEX tickets_traits_email_trgm_idx;
DROP INDEX tickets_traits_name_trgm_idx;
DROP EXTENSION IF EXISTS pg_trgm;
