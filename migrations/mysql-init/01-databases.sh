#!/bin/bash
# Creates the two service databases and lets the application user own them.
#
# The official mysql image runs this once, on an empty data directory, after it has
# created MYSQL_USER. It is a shell script rather than a .sql file because .sql files
# there are not templated, and the grant must name the user from the environment.
# The entrypoint sources a non-executable .sh and executes an executable one; this file
# works either way, so it uses the mysql client (the init server listens on the socket
# only) and never calls exit. The APIs create their own tables on start.

mysql --protocol=socket -uroot --password="${MYSQL_ROOT_PASSWORD}" <<SQL
CREATE DATABASE IF NOT EXISTS customers_db CHARACTER SET utf8mb4;
CREATE DATABASE IF NOT EXISTS orders_db CHARACTER SET utf8mb4;
GRANT ALL PRIVILEGES ON customers_db.* TO '${MYSQL_USER}'@'%';
GRANT ALL PRIVILEGES ON orders_db.* TO '${MYSQL_USER}'@'%';
SQL
