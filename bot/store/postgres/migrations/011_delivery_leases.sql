-- Version 11: a claim is a lease (see Store.claim and Store.hold_digest; SQLite's version
-- 22). A delivery or digest in flight carries the owner id of the process that claimed it
-- and when that claim expires (Unix seconds by the server's clock, which every process
-- shares); both are NULL outside SENDING and on one claimed before this version, which
-- any claimer may take over.

ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS lease_owner text;
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS lease_until double precision;
ALTER TABLE digests ADD COLUMN IF NOT EXISTS lease_owner text;
ALTER TABLE digests ADD COLUMN IF NOT EXISTS lease_until double precision;
