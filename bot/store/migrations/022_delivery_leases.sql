-- Version 22: a claim is a lease (see Store.claim and Store.hold_digest). A delivery or
-- digest in flight carries the owner id of the process that claimed it and when that
-- claim expires (Unix seconds, fractional); both are NULL outside SENDING and on one
-- claimed before this version, which any claimer may take over.

ALTER TABLE deliveries ADD COLUMN lease_owner TEXT;
ALTER TABLE deliveries ADD COLUMN lease_until REAL;
ALTER TABLE digests ADD COLUMN lease_owner TEXT;
ALTER TABLE digests ADD COLUMN lease_until REAL;
