#!/bin/bash
# Re-records the fixtures of this directory (see README.md) into OUT (default /tmp/fx/mysql)
# from a private MariaDB listening on 127.0.0.1:13306.
HERE=$(cd "$(dirname "$0")" && pwd)
REC=$HERE/../../tools/tcp_record.py
OUT=${1:-/tmp/fx/mysql}
rm -rf $OUT; mkdir -p $OUT
cap() { local name=$1 port=$2; shift 2
	python3 $REC --seconds 8 $port 13306 $OUT/$name & local rp=$!
	sleep 0.7; "$@"; sleep 0.5; kill -INT $rp; wait $rp; }
cap client_session 26001 bash -c "mariadb -h 127.0.0.1 -P 26001 -u root --skip-ssl -e \"
CREATE DATABASE IF NOT EXISTS fx; USE fx;
CREATE TABLE fx_items (id INT PRIMARY KEY, name VARCHAR(32), qty INT);
INSERT INTO fx_items VALUES (1, 'apple', 3), (2, 'pear', 5), (3, 'fig', 7);
SELECT id, name FROM fx_items WHERE qty > 2 ORDER BY id;
UPDATE fx_items SET qty = qty + 1 WHERE id IN (1, 2);
SELECT * FROM missing_table;
\" > $OUT/client_session.out 2>&1; mariadb -h 127.0.0.1 -P 26001 -u root --skip-ssl fx -e \"
SELECT seq, md5(seq) FROM seq_1_to_300;
PREPARE s1 FROM 'SELECT name FROM fx_items WHERE id = ?'; SET @a = 2; EXECUTE s1 USING @a; DEALLOCATE PREPARE s1;
DELETE FROM fx_items WHERE id = 3;
SELECT count(*), max(qty) FROM fx_items a JOIN fx_items b USING (id);
DROP TABLE fx_items;
\" >> $OUT/client_session.out 2>&1"
cap ps_protocol 26002 bash -c "mariadb-test -h 127.0.0.1 -P 26002 -u root --ps-protocol --skip-ssl < $HERE/ps.test > $OUT/ps_protocol.out 2>&1"
cap admin 26003 bash -c "mariadb-admin -h 127.0.0.1 -P 26003 -u root --skip-ssl ping status > $OUT/admin.out 2>&1"
