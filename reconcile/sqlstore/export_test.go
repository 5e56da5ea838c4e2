package sqlstore

import "context"

// SetBeforePostings makes s run f after a statement's lines are matched and
// before its postings are made: an error from f stops the import there, as
// a process that dies would.
func SetBeforePostings(s *Store, f func(context.Context) error) { s.beforePostings = f }
