DROP TRIGGER api_keys_deleted ON api_keys;
DROP TRIGGER api_keys_changed ON api_keys;
DROP FUNCTION ticketgate_announce_key_change();
