-- The joint report, by day, port and direction, from a ledger export alone:
-- what `entrex report --hub CA --hub US --by day --format csv` prints, line
-- for line (tests/it/ledger.rs checks it with DuckDB).
--
-- Run it in the export directory (`entrex ledger export` and each hub's
-- `entrex ledger export-matches` into the same OUT):
--
--     cd OUT && duckdb < /path/to/docs/ledger-joint-report.sql
--
-- The report counts each record on the UTC day and at the port of its
-- crossing, as it stands now: a correction moves it, a deletion takes it
-- away. Sent: the sender's acknowledged records (the export holds only
-- acknowledged bundles). Received, reconciled, in review: the receiver's
-- exits and what its matching decided for them.

SET TimeZone = 'UTC';

CREATE OR REPLACE VIEW records AS
SELECT * FROM read_parquet('records/*/*/*.parquet', hive_partitioning = true);

CREATE OR REPLACE VIEW matches AS
SELECT * FROM read_parquet('matches/*/*/*.parquet', hive_partitioning = true);

-- Each record as its receiver holds it now: the latest entry of the stream
-- that is the record or amends it.
CREATE OR REPLACE VIEW current_records AS
SELECT * EXCLUDE (nth) FROM (
    SELECT *, row_number() OVER (
        PARTITION BY sender, receiver, coalesce(amends, seq) ORDER BY seq DESC
    ) AS nth
    FROM records
    WHERE kind <> 'set_aside'
)
WHERE nth = 1 AND kind <> 'deletion';

CREATE OR REPLACE VIEW sent AS
SELECT entered_day AS day, port_code AS port, sender AS from_hub, receiver AS to_hub,
       count(*) AS sent
FROM current_records
GROUP BY ALL;

CREATE OR REPLACE VIEW received AS
SELECT exit_day AS day, exit_port AS port, partner AS from_hub, hub AS to_hub,
       count(*) AS received,
       count(*) FILTER (WHERE decision = 'linked') AS reconciled,
       count(*) FILTER (WHERE decision = 'review') AS review
FROM matches
GROUP BY ALL;

CREATE OR REPLACE VIEW report_rows AS
SELECT strftime(day, '%Y-%m-%d') AS period, strftime(day, '%Y-%m-%d') AS period_start,
       port, from_hub, to_hub, sent, received, reconciled, review
FROM sent FULL OUTER JOIN received USING (day, port, from_hub, to_hub)
UNION ALL
SELECT 'total', '', '*', from_hub, to_hub,
       coalesce(sum(sent), 0), coalesce(sum(received), 0),
       coalesce(sum(reconciled), 0), coalesce(sum(review), 0)
FROM (
    SELECT from_hub, to_hub, sent, NULL AS received, NULL AS reconciled, NULL AS review FROM sent
    UNION ALL
    SELECT from_hub, to_hub, NULL, received, reconciled, review FROM received
)
GROUP BY from_hub, to_hub;

-- The CSV lines, in the report's order (rows by period, port and direction,
-- then the totals by direction); empty where a figure is not known.
SELECT concat_ws(',',
    period, period_start, port, from_hub || '→' || to_hub,
    coalesce(CAST(sent AS VARCHAR), ''),
    coalesce(CAST(received AS VARCHAR), ''),
    coalesce(CAST(reconciled AS VARCHAR), ''),
    coalesce(CAST(review AS VARCHAR), ''),
    CASE WHEN received > 0 THEN format('{:.4f}', reconciled / received) ELSE '' END,
    ''
) AS line
FROM report_rows
ORDER BY period = 'total', period_start, port, from_hub, to_hub;
