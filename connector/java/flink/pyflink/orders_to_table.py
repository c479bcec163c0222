#!/usr/bin/env python3
"""A PyFlink job that writes into a delta-sidecar table through the shaded SQL
connector jar (flink-sql-connector-delta-sidecar.jar), the only jar it adds to
PyFlink's own Flink.

    python orders_to_table.py --jar build/java/flink-sql-connector-delta-sidecar.jar \
        --target 127.0.0.1:7543 --table orders

An aggregation over a bounded VALUES list makes a changelog (+I, -U, +U); the
job finishes, and its final checkpoint commits. The table then holds
{"id":1,"name":"c","qty":4}, {"id":2,"name":"e","qty":7}, {"id":3,"name":"d","qty":4}.
"""
import argparse
import os

from pyflink.table import EnvironmentSettings, TableEnvironment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jar", required=True, help="the shaded delta-sidecar SQL connector jar")
    parser.add_argument("--target", default="127.0.0.1:7543", help="the sidecar, host:port")
    parser.add_argument("--table", default="orders", help="the table on the sidecar")
    args = parser.parse_args()

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = t_env.get_config()
    config.set("pipeline.jars", "file://" + os.path.abspath(args.jar))
    # The sink commits on completed checkpoints: a streaming job needs them.
    config.set("execution.checkpointing.interval", "1 s")
    config.set("parallelism.default", "2")

    t_env.execute_sql(f"""
        CREATE TABLE orders (
          id BIGINT, name STRING, qty INT, PRIMARY KEY (id) NOT ENFORCED
        ) WITH (
          'connector' = 'delta-sidecar',
          'target' = '{args.target}',
          'table' = '{args.table}'
        )""")
    t_env.execute_sql("""
        INSERT INTO orders
        SELECT CAST(id AS BIGINT), MAX(name), CAST(SUM(qty) AS INT)
        FROM (VALUES (1, 'a', 1), (2, 'b', 2), (1, 'c', 3), (3, 'd', 4), (2, 'e', 5))
          AS t(id, name, qty)
        GROUP BY id""").wait()


if __name__ == "__main__":
    main()
