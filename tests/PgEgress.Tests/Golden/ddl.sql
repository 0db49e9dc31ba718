-- lsn {lsn} committed {timestamp} ALTER TABLE
ALTER TABLE app.golden ADD COLUMN note text DEFAULT 'n/a';

