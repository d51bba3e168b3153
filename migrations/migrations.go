// Package migrations holds the schema of both databases as embedded,
// versioned SQL files.
//
// Every step is one idempotent DDL statement: CREATE TABLE IF NOT EXISTS
// up, DROP TABLE IF EXISTS down. One statement, because MySQL commits DDL
// implicitly, so a step is never half applied. Idempotent, because a
// service that dies in the middle of a step leaves it marked dirty and the
// next start applies that step again (under a database-wide lock, see
// adapters/mysql): a step that fails when its effect is already there would
// keep every replica from starting until someone repairs schema_migrations
// by hand.
//
// The files run on MySQL 8.4, MariaDB 10.11 and the embedded engine of the
// development stack alike. That rules out MariaDB's conditional ALTER forms
// (ADD COLUMN IF NOT EXISTS, DROP INDEX IF EXISTS and the like): MySQL has
// none of them, nor CREATE INDEX IF NOT EXISTS. A step that changes an
// existing table therefore reads information_schema and runs its ALTER
// only when the change is missing; the SET and PREPARE around it change
// nothing durable, so the file still makes one schema change:
//
//	SET @ddl = IF(EXISTS(SELECT 1 FROM information_schema.columns
//	    WHERE table_schema = DATABASE() AND table_name = 'orders' AND column_name = 'note'),
//	  'SELECT 1',
//	  'ALTER TABLE orders ADD COLUMN note VARCHAR(200) NULL');
//	PREPARE step FROM @ddl;
//	EXECUTE step;
//	DEALLOCATE PREPARE step
//
// (The no-op is SELECT 1 because the embedded engine cannot prepare DO.)
// A new index is guarded the same way on information_schema.statistics, a
// dropped column or index by the opposite test. Never change a step that
// has shipped: add a new one.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed customers/*.sql
var customers embed.FS

// Customers is the schema of customers_db.
var Customers fs.FS = mustSub(customers, "customers")

//go:embed orders/*.sql
var orders embed.FS

// Orders is the schema of orders_db: products, orders with their items,
// and the idempotency keys of the order commands.
var Orders fs.FS = mustSub(orders, "orders")

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
