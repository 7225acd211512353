-- An organizer may pause admissions: the line keeps everyone's place, fans
-- already shopping go on, and nobody new is admitted until it is resumed.
ALTER TABLE events ADD COLUMN paused boolean NOT NULL DEFAULT false;
