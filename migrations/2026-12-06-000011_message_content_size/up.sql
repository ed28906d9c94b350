-- Every message's text is at most 64 KiB (validate::MAX_CONTENT_BYTES), whoever writes
-- it: the message pages rely on that bound to skip their running byte total when even
-- the largest page could not pass the response budget (tickets::messages::queries).
-- NOT VALID: no scan of the existing rows (all written through the same validation);
-- every insert and update from now on is checked.
ALTER TABLE messages
    ADD CONSTRAINT messages_content_size CHECK (octet_length(content) <= 65536) NOT VALID;
