-- Version 16: a duplicate file's owner (the path of the file that gives its story) in a
-- column of its own. Version 9 kept it in error, which now only ever holds the reason a
-- file was rejected.

ALTER TABLE files ADD COLUMN owner TEXT;
UPDATE files SET owner = error, error = NULL WHERE status = 'duplicate';
DROP INDEX IF EXISTS files_duplicates;
CREATE INDEX files_duplicates ON files (owner) WHERE status = 'duplicate';
