-- Version 22: a claim is a lease (see Store.claim). A delivery in flight carries the
-- owner id of the process that claimed it and when that claim expires (Unix seconds,
-- fractional); both are NULL outside SENDING and on a delivery claimed before this
-- version, which any claimer may take over.

ALTER TABLE deliveries ADD COLUMN lease_owner TEXT;
ALTER TABLE deliveries ADD COLUMN lease_until REAL;
