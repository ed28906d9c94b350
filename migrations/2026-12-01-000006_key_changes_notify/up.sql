-- Every replica caches the API keys it has recently seen and forgets them the moment any
-- key changes: announce every change that matters to authentication (revocation, scopes,
-- team, user, deletion), however it is made — `ticketgate api-key revoke` or plain SQL.
-- The payload is the key's id; websockets opened with it close (4403).
CREATE FUNCTION ticketgate_announce_key_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ticketgate_revoked_keys', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_changed
    AFTER UPDATE OF revoked_at, scopes, team_id, user_id, key_hash ON api_keys
    FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
          OR OLD.scopes IS DISTINCT FROM NEW.scopes
          OR OLD.team_id IS DISTINCT FROM NEW.team_id
          OR OLD.user_id IS DISTINCT FROM NEW.user_id
          OR OLD.key_hash IS DISTINCT FROM NEW.key_hash)
    EXECUTE FUNCTION ticketgate_announce_key_change();

CREATE TRIGGER api_keys_deleted
    AFTER DELETE ON api_keys
    FOR EACH ROW
    EXECUTE FUNCTION ticketgate_announce_key_change();
