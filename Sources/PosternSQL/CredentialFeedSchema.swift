import Foundation

/// The tables and triggers behind `CredentialFeed`.
///
/// Every change that can alter the answer to an app-password login, the
/// only answers the cache holds (an app password revoked, expiring,
/// rescoped, renamed, moved or deleted; the account disabled, enabled,
/// renamed or deleted), adds a row to `credential_changes` with the next number from the one-row
/// `credential_feed`. Triggers do it, so no write path can forget, including
/// SQL an operator runs by hand. Last-use updates do not count, nor do second
/// factors: an app-password login's answer does not depend on them, and
/// enrolling one is something any user can repeat. An update that moves a
/// row to another account names both.
///
/// The numbers are dense and committed in order: on SQLite there is one
/// writer; on PostgreSQL the trigger is deferred to commit and takes the
/// `credential_feed` row lock last, so transactions that change credentials
/// commit one after another through it, and no cycle of locks can form.
/// A reader that has applied number N and reads N+1, N+2… has missed nothing;
/// a gap means rows were pruned, and the reader starts over. PostgreSQL also
/// sends `NOTIFY postern_credentials '<number> <account id>'` at commit.
enum CredentialFeedSchema {
    static let channel = "postern_credentials"

    /// The watched columns of each table, and the column naming the account.
    static let watched: [(table: String, events: String, account: String)] = [
        ("app_passwords", "UPDATE OF revoked_at, expires_at, protocols, name, digest, account_id", "account_id"),
        ("app_passwords", "DELETE", "account_id"),
        ("accounts", "UPDATE OF disabled, username", "id"),
        ("accounts", "DELETE", "id"),
    ]

    static func statements(_ dialect: String) -> [String] {
        let tables = [
            "CREATE TABLE credential_feed (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL)",
            "INSERT INTO credential_feed (id, seq) VALUES (1, 0)",
            "CREATE TABLE credential_changes (seq BIGINT PRIMARY KEY, account_id TEXT NOT NULL, at BIGINT NOT NULL)",
            "CREATE INDEX credential_changes_at ON credential_changes (at)",
        ]
        return tables + (dialect == "postgresql" ? postgresTriggers : sqliteTriggers)
    }

    private static func triggerName(_ index: Int) -> String { "credential_change_\(index)" }

    private static var sqliteTriggers: [String] {
        watched.enumerated().map { index, watch in
            func record(_ row: String, when condition: String = "1") -> String {
                """
                    UPDATE credential_feed SET seq = seq + 1 WHERE id = 1 AND \(condition);
                    INSERT INTO credential_changes (seq, account_id, at)
                    SELECT seq, \(row).\(watch.account), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
                    FROM credential_feed WHERE id = 1 AND \(condition);
                """
            }
            let body = watch.events == "DELETE" ? record("OLD")
                : record("OLD") + "\n" + record("NEW", when: "OLD.\(watch.account) IS NOT NEW.\(watch.account)")
            return "CREATE TRIGGER \(triggerName(index)) AFTER \(watch.events) ON \(watch.table)\nBEGIN\n\(body)\nEND"
        }
    }

    private static var postgresTriggers: [String] {
        let function = """
            CREATE FUNCTION postern_credential_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                old_account TEXT := CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD) ->> TG_ARGV[0] END;
                new_account TEXT := CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_jsonb(NEW) ->> TG_ARGV[0] END;
                changed TEXT;
                next_seq BIGINT;
            BEGIN
                FOREACH changed IN ARRAY ARRAY(SELECT DISTINCT a FROM unnest(ARRAY[old_account, new_account]) a WHERE a IS NOT NULL) LOOP
                    UPDATE credential_feed SET seq = seq + 1 WHERE id = 1 RETURNING seq INTO next_seq;
                    INSERT INTO credential_changes (seq, account_id, at)
                    VALUES (next_seq, changed, (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT);
                    PERFORM pg_notify('\(channel)', next_seq::TEXT || ' ' || changed);
                END LOOP;
                RETURN NULL;
            END
            $$
            """
        return [function] + watched.enumerated().map { index, watch in
            """
            CREATE CONSTRAINT TRIGGER \(triggerName(index)) AFTER \(watch.events) ON \(watch.table)
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION postern_credential_changed('\(watch.account)')
            """
        }
    }
}
