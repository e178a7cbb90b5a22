-- Version 9: files kept out as duplicates, by the file that owns their story, so that
-- they are read again when that file stops giving the story (deleted, or another URL).
-- From this version on a duplicate's article_id is the story it duplicates.

CREATE INDEX IF NOT EXISTS files_duplicates ON files (error) WHERE status = 'duplicate';
