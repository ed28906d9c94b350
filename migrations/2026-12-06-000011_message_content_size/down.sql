ALTER TABLE messages DROP CONSTRAINT messages_content_size;
