"""Runs SQL queries with DuckDB over the ledger's day-partitioned records on an S3-compatible
server (the stand-in for Athena in tests/tests/query_athena.rs).

Reads one JSON object on standard input:
  {"endpoint": "127.0.0.1:8333", "key_id": "...", "secret": "...", "region": "us-east-1",
   "location": "s3://bucket/ledger/records/", "columns": [["block", "bigint"], ...],
   "queries": [{"sql": "SELECT ... FROM custody_records WHERE ... = ?", "params": ["..."]}]}
and prints {"results": [[row, ...], ...]}: each row a list of values, in the query's order.

The view custody_records has the Athena table's columns (Glue types mapped to DuckDB's) and the
partition column day as a string, so that the README's queries run unchanged on both engines.
"""
import json
import os
import sys

import duckdb
import duckdb_extension_httpfs

TYPES = {"bigint": "BIGINT", "int": "INTEGER", "string": "VARCHAR", "array<string>": "VARCHAR[]"}


def httpfs_path():
    base = os.path.join(os.path.dirname(duckdb_extension_httpfs.__file__), "extensions")
    for version in sorted(os.listdir(base)):
        path = os.path.join(base, version, "httpfs.duckdb_extension")
        if os.path.isfile(path):
            return path
    raise SystemExit(f"no httpfs extension under {base}")


def quote(text):
    return "'" + text.replace("'", "''") + "'"


def main():
    request = json.load(sys.stdin)
    con = duckdb.connect()
    con.execute(f"LOAD {quote(httpfs_path())}")
    con.execute(
        "CREATE SECRET ledger (TYPE s3, KEY_ID {}, SECRET {}, ENDPOINT {}, REGION {}, "
        "URL_STYLE 'path', USE_SSL false)".format(
            quote(request["key_id"]),
            quote(request["secret"]),
            quote(request["endpoint"]),
            quote(request["region"]),
        )
    )
    columns = ", ".join(
        f"{quote(name)}: {quote(TYPES[kind])}" for name, kind in request["columns"]
    )
    location = request["location"].rstrip("/") + "/*/*.jsonl"
    con.execute(
        f"CREATE VIEW custody_records AS SELECT * FROM read_json({quote(location)}, "
        f"format = 'newline_delimited', hive_partitioning = true, "
        f"hive_types = {{'day': 'VARCHAR'}}, columns = {{{columns}}})"
    )
    results = []
    for query in request["queries"]:
        rows = con.execute(query["sql"], query.get("params", [])).fetchall()
        results.append([list(row) for row in rows])
    json.dump({"results": results}, sys.stdout, default=str)


if __name__ == "__main__":
    main()
