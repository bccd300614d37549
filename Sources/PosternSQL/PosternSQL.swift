// PosternSQL: keeps the core's records in a SQL database through SQLKit.
//
// Charter: this module stores and fetches; it decides nothing. Every query is
// written once in SQL that SQLite and PostgreSQL both accept, with per-dialect
// SQL only where a dialect needs it (see `Migrations`).
