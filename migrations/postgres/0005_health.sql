-- One row that readiness checks write: a database that answers but cannot
-- write (disk full, read-only) is not ready.
CREATE TABLE health (
    id         INTEGER PRIMARY KEY,
    checked_at TIMESTAMPTZ NOT NULL
);
