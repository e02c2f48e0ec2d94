#!/bin/bash
# Re-records the fixtures of this directory (see README.md) into OUT (default /tmp/fx/pg)
# from a private PostgreSQL 15 listening on 127.0.0.1:15432.
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=/usr/lib/postgresql/15/bin
REC=$HERE/../../tools/tcp_record.py
OUT=${1:-/tmp/fx/pg}
rm -rf $OUT; mkdir -p $OUT
cap() { # name port cmd...
	local name=$1 port=$2; shift 2
	python3 $REC --seconds 8 $port 15432 $OUT/$name & local rp=$!
	sleep 0.7
	"$@"
	sleep 0.5
	kill -INT $rp; wait $rp || true
}
CONN="host=127.0.0.1 port=25001 user=postgres dbname=postgres sslmode=disable"
cap psql_simple 25001 bash -c "printf '10\tkiwi\t1\n11\tlime\t2\n' | $BIN/psql '$CONN' -X -v ON_ERROR_STOP=0 \
 -c 'CREATE TABLE fx_items (id int primary key, name text, qty int)' \
 -c \"INSERT INTO fx_items VALUES (1, 'apple', 3), (2, 'pear', 5), (3, 'fig', 7)\" \
 -c 'BEGIN; SELECT 1; COMMIT' \
 -c 'SELECT 1/0' \
 -c 'SELECT * FROM missing_table' \
 -c 'UPDATE fx_items SET qty = qty + 1 WHERE id IN (1, 2)' \
 -c 'SELECT id, name FROM fx_items WHERE qty > 2 ORDER BY id' \
 -c 'SELECT g, md5(g::text) FROM generate_series(1, 300) g' \
 -c 'DELETE FROM fx_items WHERE id = 3' \
 -c '\\copy fx_items from stdin' \
 -c 'COPY fx_items TO STDOUT' \
 -c 'SELECT count(*), max(qty) FROM fx_items i JOIN fx_items j USING (id) GROUP BY i.name' \
 -c 'DROP TABLE fx_items' > $OUT/psql_simple.out 2>&1 || true"
PGB="-h 127.0.0.1 -U postgres postgres"
cap pgbench_init 25002 $BIN/pgbench -i -s 1 -I dtGvp -p 25002 $PGB
cap pgbench_simple 25003 $BIN/pgbench -t 5 -M simple -p 25003 $PGB
cap pgbench_extended 25004 $BIN/pgbench -n -t 5 -M extended -p 25004 $PGB
cap pgbench_prepared 25005 $BIN/pgbench -n -t 5 -M prepared -p 25005 $PGB
cap extended_batch 25006 python3 $HERE/pg_extended_client.py 25006
