package sqlite

import "database/sql"

// Reader is the store's read-only pool, for reading the tables whole:
// jobq copy hands it to the PostgreSQL store's CopyFrom.
func (s *Store) Reader() *sql.DB { return s.reader }
