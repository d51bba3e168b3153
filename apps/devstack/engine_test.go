package main

import "testing"

func TestWithoutSecondaryIndexes(t *testing.T) {
	in := "-- orders, newest first\nCREATE TABLE orders (\n    id BINARY(16) NOT NULL,\n    PRIMARY KEY (id),\n    UNIQUE KEY uq_orders_ref (ref),\n    KEY ix_orders_created (created_at, id),\n    INDEX `ix_status` (status)\n) ENGINE = InnoDB"
	want := "-- orders, newest first\nCREATE TABLE orders (\n    id BINARY(16) NOT NULL,\n    PRIMARY KEY (id),\n    UNIQUE KEY uq_orders_ref (ref)\n) ENGINE = InnoDB"
	if got := withoutSecondaryIndexes(in); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	other := "SELECT * FROM t WHERE a = ', KEY ix (b)'"
	if got := withoutSecondaryIndexes(other); got != other {
		t.Fatalf("a query that is not CREATE TABLE changed: %s", got)
	}
	alter := "SET @ddl = IF(x, 'SELECT 1', 'ALTER TABLE orders\n  ADD COLUMN e DATETIME(6) NULL,\n  ADD KEY ix_orders_status_expires (status, e),\n  ADD UNIQUE KEY uq (e)')"
	wantAlter := "SET @ddl = IF(x, 'SELECT 1', 'ALTER TABLE orders\n  ADD COLUMN e DATETIME(6) NULL,\n  ADD UNIQUE KEY uq (e)')"
	if got := withoutSecondaryIndexes(alter); got != wantAlter {
		t.Fatalf("got\n%s\nwant\n%s", got, wantAlter)
	}
}
