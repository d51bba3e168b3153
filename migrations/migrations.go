// Package migrations holds the schema of both databases as embedded,
// versioned SQL files, one DDL statement per file because MySQL commits DDL
// implicitly: a failed file never leaves a half-applied step behind.
//
// The files run on MySQL 8, MariaDB 10.11 and the embedded engine of the
// development stack alike.
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
