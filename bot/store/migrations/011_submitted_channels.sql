-- Version 11: a story a moderator submits competes only in the channels they moderate.
-- /queue submit used to store a story that every channel's queue ranked, so Manage
-- Messages in one channel could put a quality-100 story everywhere. A story listed in
-- submitted_stories is ranked (next_for_channel, review_candidates) only for the
-- channels listed for it in submitted_channels, none if there are none; a pin still
-- places it in any channel whose moderator pins it, and search lists it as before.

CREATE TABLE IF NOT EXISTS submitted_stories (
    article_id TEXT PRIMARY KEY
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS submitted_channels (
    article_id TEXT NOT NULL,
    channel_id INTEGER NOT NULL,
    PRIMARY KEY (article_id, channel_id)
) WITHOUT ROWID;

-- Stories submitted before this version did not record who could send them where. They
-- keep the channels where they are pinned or already on their way (a delivery pending,
-- in review, approved or being sent): a moderator of that channel pinned or approved
-- them, or a send must be settled; every other channel stops ranking them.
INSERT OR IGNORE INTO submitted_stories (article_id)
    SELECT id FROM articles WHERE source = 'moderator' AND source_path IS NULL;
INSERT OR IGNORE INTO submitted_channels (article_id, channel_id)
    SELECT q.article_id, q.channel_id FROM queue_entries q
    JOIN submitted_stories s ON s.article_id = q.article_id;
INSERT OR IGNORE INTO submitted_channels (article_id, channel_id)
    SELECT d.article_id, d.channel_id FROM deliveries d
    JOIN submitted_stories s ON s.article_id = d.article_id
    WHERE d.state IN ('pending', 'review', 'approved', 'sending');

-- A file that gives the story (the same URL, loaded later) makes it the operator's: it
-- then competes everywhere, as every story from a file does.
CREATE TRIGGER IF NOT EXISTS submitted_story_from_a_file
AFTER UPDATE OF source_path ON articles
WHEN NEW.source_path IS NOT NULL AND OLD.source_path IS NULL
BEGIN
    DELETE FROM submitted_channels WHERE article_id = NEW.id;
    DELETE FROM submitted_stories WHERE article_id = NEW.id;
END;
