package contract_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/google/uuid"

	"github.com/b2borders/platform/adapters/mysql"
	"github.com/b2borders/platform/core/catalog"
	"github.com/b2borders/platform/core/customer"
	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/ordering"
	"github.com/b2borders/platform/migrations"
	"github.com/b2borders/platform/testsuite/contract"
	"github.com/b2borders/platform/testsuite/dbtest"
)

// openOrdersDB returns a pool of at most conns connections (0: the default)
// over a fresh, migrated orders database that lives as long as t.
func openOrdersDB(t *testing.T, conns ...int) *mysql.DB {
	t.Helper()
	return openDSN(t, dbtest.NewDatabase(t), conns...)
}

// openDSN returns a pool of its own (at most conns connections) over the
// orders database at dsn, migrated, that lives as long as t.
func openDSN(t *testing.T, dsn string, conns ...int) *mysql.DB {
	t.Helper()
	cfg := mysql.Config{DSN: dsn, Schema: migrations.Orders}
	if len(conns) > 0 {
		cfg.MaxOpenConns = conns[0]
	}
	db, err := mysql.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("open orders database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMySQLProductStore(t *testing.T) {
	contract.RunProductStoreSuite(t, func(t *testing.T) catalog.Store {
		return mysql.NewProductStore(openOrdersDB(t))
	})
}

func TestMySQLOrderStore(t *testing.T) {
	contract.RunOrderStoreSuite(t, func(t *testing.T) contract.OrderStores {
		dsn := dbtest.NewDatabase(t)
		db := openDSN(t, dsn)
		return contract.OrderStores{
			Products: mysql.NewProductStore(db),
			Orders:   mysql.NewOrderStore(db),
			Keys:     mysql.NewIdempotencyStore(db),
			// On a cluster (TEST_MYSQL_NODES) the second replica writes
			// through another node.
			Replica: func() ordering.Store { return mysql.NewOrderStore(openDSN(t, dbtest.ReplicaDSN(t, dsn, 1))) },
		}
	})
}

type knownCustomers struct{}

func (knownCustomers) Get(_ context.Context, id uuid.UUID) (customer.Customer, error) {
	return customer.Customer{ID: id}, nil
}

// placeAcrossAChange creates a product at price 100 with stock 10, holds
// its row with the uncommitted change set until a placement of qty units,
// which has read the product before the change, is taking the row's stock;
// then commits the change and returns the placement's outcome. These races
// are why a placement checks price and stock again under the lock.
func placeAcrossAChange(t *testing.T, db *mysql.DB, set string, qty int64) (catalog.Product, placeResult) {
	t.Helper()
	// The placement must wait on the test's row lock.
	dbtest.RequireInnoDB(t)
	ctx := t.Context()
	p, err := catalog.NewService(mysql.NewProductStore(db)).Create(ctx, catalog.NewProduct{SKU: "P", Name: "P", PriceCents: 100, Stock: 10})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE products SET `+set+`, version = version + 1 WHERE id = ?`, p.ID[:]); err != nil {
		t.Fatal(err)
	}

	svc := ordering.NewService(mysql.NewOrderStore(db), knownCustomers{}, ordering.Config{})
	done := make(chan placeResult, 1)
	go func() {
		o, _, err := svc.Place(ctx, ordering.PlaceRequest{CustomerID: uuid.New(), Lines: []ordering.Line{{ProductID: p.ID, Qty: qty}}})
		done <- placeResult{o, err}
	}()
	waitForStockUpdate(t, db.DB, done)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return p, <-done
}

func TestMySQLPlaceChargesAPriceChangedBeforeTheLock(t *testing.T) {
	db := openOrdersDB(t)
	p, r := placeAcrossAChange(t, db, "price_cents = 150", 2)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if it := r.o.Items[0]; it.UnitPriceCents != 150 || r.o.TotalCents != 300 {
		t.Fatalf("charged %d a unit, %d in all; want the new price 150, 300 in all", it.UnitPriceCents, r.o.TotalCents)
	}
	got, err := mysql.NewOrderStore(db).Get(t.Context(), r.o.ID)
	if err != nil || got.TotalCents != 300 {
		t.Fatalf("stored order: total %d, %v", got.TotalCents, err)
	}
	prod, err := mysql.NewProductStore(db).Get(t.Context(), p.ID)
	if err != nil || prod.Stock != 8 {
		t.Fatalf("stock %d, %v; want 8", prod.Stock, err)
	}
}

func TestMySQLPlaceRefusesStockTakenBeforeTheLock(t *testing.T) {
	db := openOrdersDB(t)
	p, r := placeAcrossAChange(t, db, "stock = 1", 2)
	if !errs.Is(r.err, errs.InsufficientStock) {
		t.Fatalf("got %v, want insufficient_stock", r.err)
	}
	var e *errs.Error
	errors.As(r.err, &e)
	if short, _ := e.Details.([]ordering.Shortage); len(short) != 1 || short[0] != (ordering.Shortage{ProductID: p.ID, Available: 1, Requested: 2}) {
		t.Fatalf("shortages %+v, want 1 available of 2 requested", e.Details)
	}
	var orders, items int
	if err := db.QueryRowContext(t.Context(), `SELECT (SELECT COUNT(*) FROM orders), (SELECT COUNT(*) FROM order_items)`).Scan(&orders, &items); err != nil {
		t.Fatal(err)
	}
	prod, err := mysql.NewProductStore(db).Get(t.Context(), p.ID)
	if err != nil || prod.Stock != 1 || orders != 0 || items != 0 {
		t.Fatalf("after the refusal: stock %d (%v), %d orders, %d items; want 1, 0, 0", prod.Stock, err, orders, items)
	}
}

type placeResult struct {
	o   ordering.Order
	err error
}

// waitForStockUpdate returns once a placement on db's database is running
// its stock UPDATE, which it does after reading the prices. The row lock
// the test holds keeps that UPDATE from finishing until the test commits.
// (The processlist is read, not information_schema.innodb_trx: InnoDB
// refreshes that table's contents at most every 100ms, and not at all
// while it is polled faster.) It fails t if the placement ends first, which
// would leave the test proving nothing.
func waitForStockUpdate(t *testing.T, db *sql.DB, done <-chan placeResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		var running int
		err := db.QueryRowContext(ctx, `
			SELECT COUNT(*) FROM information_schema.processlist
			WHERE db = DATABASE() AND info LIKE 'UPDATE products SET stock = stock -%'`).Scan(&running)
		if err != nil {
			t.Fatalf("watch the processlist: %v", err)
		}
		if running > 0 {
			return
		}
		select {
		case r := <-done:
			t.Fatalf("the placement ended before it took the stock: %+v", r)
		default:
		}
	}
}

// TestMySQLFailedPlacementsLeaveNoTransactionOpen places through a pool of
// one connection, so every placement reuses the connection of the failed
// ones before it: a shortage found by the stock UPDATE, a duplicate key, a
// replay. Had any of them left its transaction open, the next placement's
// START TRANSACTION would commit that transaction's order.
func TestMySQLFailedPlacementsLeaveNoTransactionOpen(t *testing.T) {
	ctx := t.Context()
	db := openOrdersDB(t, 1)
	p, err := catalog.NewService(mysql.NewProductStore(db)).Create(ctx, catalog.NewProduct{SKU: "P", Name: "P", PriceCents: 100, Stock: 3})
	if err != nil {
		t.Fatal(err)
	}
	svc := ordering.NewService(mysql.NewOrderStore(db), knownCustomers{}, ordering.Config{})
	customer := uuid.New()
	place := func(key string, qty int64) (ordering.Order, bool, error) {
		return svc.Place(ctx, ordering.PlaceRequest{CustomerID: customer, Lines: []ordering.Line{{ProductID: p.ID, Qty: qty}}, IdempotencyKey: key})
	}

	// With a key, a shortage is found by the UPDATE inside the transaction.
	if _, _, err := place("short", 5); !errs.Is(err, errs.InsufficientStock) {
		t.Fatalf("short placement: %v, want insufficient_stock", err)
	}
	first, _, err := place("k", 1)
	if err != nil {
		t.Fatal(err)
	}
	// The key's INSERT fails with a duplicate.
	again, replayed, err := place("k", 1)
	if err != nil || !replayed || again.ID != first.ID {
		t.Fatalf("repeat: %v, replayed %v, order %s; want a replay of %s", err, replayed, again.ID, first.ID)
	}
	if _, _, err := place("", 1); err != nil {
		t.Fatal(err)
	}

	var orders, items, keys, stock int
	if err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM orders), (SELECT COUNT(*) FROM order_items),
		(SELECT COUNT(*) FROM idempotency_keys), (SELECT stock FROM products)`).Scan(&orders, &items, &keys, &stock); err != nil {
		t.Fatal(err)
	}
	if orders != 2 || items != 2 || keys != 1 || stock != 1 {
		t.Fatalf("%d orders, %d items, %d keys, stock %d; want 2, 2, 1, 1", orders, items, keys, stock)
	}
}

// TestMySQLPriceChangeReachesEveryReplica runs two order stores on one
// database, as two orders-api replicas with a price cache each (through
// two nodes on a cluster: dbtest.ReplicaDSN). Once both
// have placed an order at the old price, a price change made through the
// catalogue (any replica's PATCH) must be charged by both: the stock
// UPDATE matches a product only at the price it charges, so a stale cached
// price fails it, and the placement re-reads and charges the new price.
func TestMySQLPriceChangeReachesEveryReplica(t *testing.T) {
	dsn := dbtest.NewDatabase(t)
	db := openDSN(t, dsn)
	other := openDSN(t, dbtest.ReplicaDSN(t, dsn, 1))
	ctx := t.Context()
	products := catalog.NewService(mysql.NewProductStore(db))
	p, err := products.Create(ctx, catalog.NewProduct{SKU: "P", Name: "P", PriceCents: 100, Stock: 10})
	if err != nil {
		t.Fatal(err)
	}
	replicas := []*ordering.Service{
		ordering.NewService(mysql.NewOrderStore(db), knownCustomers{}, ordering.Config{}),
		ordering.NewService(mysql.NewOrderStore(other), knownCustomers{}, ordering.Config{}),
	}
	placeAt := func(want int64) {
		t.Helper()
		for i, svc := range replicas {
			o, _, err := svc.Place(ctx, ordering.PlaceRequest{CustomerID: uuid.New(), Lines: []ordering.Line{{ProductID: p.ID, Qty: 1}}})
			if err != nil {
				t.Fatalf("replica %d: %v", i, err)
			}
			if o.Items[0].UnitPriceCents != want || o.TotalCents != want {
				t.Fatalf("replica %d charged %d a unit, %d in all; want %d", i, o.Items[0].UnitPriceCents, o.TotalCents, want)
			}
			stored, err := mysql.NewOrderStore(db).Get(ctx, o.ID)
			if err != nil || stored.TotalCents != want || stored.Items[0].UnitPriceCents != want {
				t.Fatalf("replica %d stored %+v, %v; want %d", i, stored, err, want)
			}
		}
	}
	placeAt(100)
	price := int64(150)
	if _, err := products.Update(ctx, p.ID, catalog.Patch{PriceCents: &price}); err != nil {
		t.Fatal(err)
	}
	placeAt(150)
	got, err := mysql.NewProductStore(db).Get(ctx, p.ID)
	if err != nil || got.Stock != 6 || got.PriceCents != 150 {
		t.Fatalf("product %+v, %v; want stock 6 at 150", got, err)
	}
}

// TestMySQLFailedConfirmsLeaveNoTransactionOpen confirms and cancels
// through a pool of one connection after confirms that failed inside their
// transaction: an unknown order and a failed render, the latter after it
// had locked and changed the order. Had either left its transaction open,
// the next one's START TRANSACTION would commit it.
func TestMySQLFailedConfirmsLeaveNoTransactionOpen(t *testing.T) {
	ctx := t.Context()
	db := openOrdersDB(t, 1)
	p, err := catalog.NewService(mysql.NewProductStore(db)).Create(ctx, catalog.NewProduct{SKU: "P", Name: "P", PriceCents: 100, Stock: 3})
	if err != nil {
		t.Fatal(err)
	}
	svc := ordering.NewService(mysql.NewOrderStore(db), knownCustomers{}, ordering.Config{})
	o, _, err := svc.Place(ctx, ordering.PlaceRequest{CustomerID: uuid.New(), Lines: []ordering.Line{{ProductID: p.ID, Qty: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	render := func(o ordering.Order) ([]byte, error) { return []byte(string(o.Status)), nil }

	if _, err := svc.Confirm(ctx, uuid.New(), "k", render); !errs.Is(err, errs.NotFound) {
		t.Fatalf("confirm of an unknown order: %v, want not_found", err)
	}
	broken := errors.New("render failed")
	if _, err := svc.Confirm(ctx, o.ID, "k", func(ordering.Order) ([]byte, error) { return nil, broken }); !errors.Is(err, broken) {
		t.Fatalf("confirm with a failing render: %v, want the render error", err)
	}
	c, err := svc.Confirm(ctx, o.ID, "k", render)
	if err != nil || c.Replayed || string(c.Body) != string(ordering.Confirmed) {
		t.Fatalf("confirm: %v, replayed %v, body %q; want a first confirmation", err, c.Replayed, c.Body)
	}
	if again, err := svc.Confirm(ctx, o.ID, "k", render); err != nil || !again.Replayed {
		t.Fatalf("repeat: %v, replayed %v; want a replay", err, again.Replayed)
	}
	canceled, err := svc.Cancel(ctx, o.ID)
	if err != nil || canceled.Status != ordering.Canceled {
		t.Fatalf("cancel: %v, status %s", err, canceled.Status)
	}

	var keys, stock int
	var status string
	if err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM idempotency_keys), (SELECT stock FROM products),
		(SELECT status FROM orders)`).Scan(&keys, &stock, &status); err != nil {
		t.Fatal(err)
	}
	if keys != 1 || stock != 3 || status != string(ordering.Canceled) {
		t.Fatalf("%d keys, stock %d, order %s; want 1, 3, CANCELED", keys, stock, status)
	}
}

// withSnapshotIsolation turns MariaDB's snapshot isolation on for every
// session of dsn when the server has it, as MariaDB 11.6 and later do by
// default: a transaction that writes a row changed since its read view was
// opened then fails with error 1020. MySQL has no such setting; there the
// DSN is returned as it is.
func withSnapshotIsolation(t *testing.T, dsn string) string {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var on bool
	if err := db.QueryRowContext(t.Context(), `SELECT @@innodb_snapshot_isolation`).Scan(&on); err != nil {
		t.Logf("the server has no snapshot isolation (%v): the orders run without it", err)
		return dsn
	}
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["innodb_snapshot_isolation"] = "ON"
	return cfg.FormatDSN()
}

// TestMySQLContendedOrdersNeverConflictOnSnapshots places, confirms and
// cancels orders on the same two products from many clients at once, with
// snapshot isolation on. Every write transaction reads only with locks, so
// none may open a read view that a concurrent placement makes stale: not
// one attempt may end in a snapshot conflict, every command succeeds, and
// stock is conserved.
func TestMySQLContendedOrdersNeverConflictOnSnapshots(t *testing.T) {
	ctx := t.Context()
	const stock = 1_000_000
	db, ids := snapshotDB(t, stock)
	svc := ordering.NewService(mysql.NewOrderStore(db), knownCustomers{}, ordering.Config{})
	render := func(o ordering.Order) ([]byte, error) { return []byte(o.ID.String()), nil }

	const clients, rounds = 16, 25
	var wg sync.WaitGroup
	failures := make(chan error, clients*rounds*3)
	for c := range clients {
		wg.Go(func() {
			for r := range rounds {
				o, _, err := svc.Place(ctx, ordering.PlaceRequest{CustomerID: uuid.New(), Lines: []ordering.Line{
					{ProductID: ids[0], Qty: int64(1 + r%3)}, {ProductID: ids[1], Qty: int64(1 + c%3)},
				}})
				if err != nil {
					failures <- fmt.Errorf("place: %w", err)
					continue
				}
				if (c+r)%3 != 0 {
					if _, err := svc.Confirm(ctx, o.ID, fmt.Sprintf("confirm-%d-%d", c, r), render); err != nil {
						failures <- fmt.Errorf("confirm: %w", err)
					}
				}
				if (c+r)%3 != 1 {
					if _, err := svc.Cancel(ctx, o.ID); err != nil {
						failures <- fmt.Errorf("cancel: %w", err)
					}
				}
			}
		})
	}
	wg.Wait()
	noSnapshotConflicts(t, db, failures)
	for _, id := range ids {
		var left, taken int64
		if err := db.QueryRowContext(ctx, `SELECT p.stock, COALESCE((SELECT SUM(i.qty) FROM order_items i
			JOIN orders o ON o.id = i.order_id WHERE i.product_id = p.id AND o.status <> 'CANCELED'), 0)
			FROM products p WHERE p.id = ?`, id[:]).Scan(&left, &taken); err != nil {
			t.Fatal(err)
		}
		if left+taken != stock {
			t.Errorf("product %s: stock %d + %d units in live orders, want %d", id, left, taken, stock)
		}
	}
	contract.CheckLedger(t, mysql.NewProductStore(db))
}

// TestMySQLSweepsAndAdjustmentsNeverConflictOnSnapshots races placements
// with a reservation TTL, confirms, stock adjustments and expiry sweeps on
// the same two products, with snapshot isolation on: the sweep reads at
// READ COMMITTED and the adjustment and the ledger's writes read only with
// locks, so no attempt may end in a snapshot conflict; every command
// succeeds or is refused for what it is, and the ledger explains the stock.
func TestMySQLSweepsAndAdjustmentsNeverConflictOnSnapshots(t *testing.T) {
	ctx := t.Context()
	db, ids := snapshotDB(t, 100_000)
	products := catalog.NewService(mysql.NewProductStore(db))
	// Placed an hour ago with a 30-minute TTL: due at once for the sweep,
	// while the confirms, whose clock is the placement's, race it.
	placedAt := time.Now().Add(-time.Hour)
	placer := ordering.NewService(mysql.NewOrderStore(db), knownCustomers{}, ordering.Config{
		ReservationTTL: 30 * time.Minute, Now: func() time.Time { return placedAt },
	})
	sweeper := ordering.NewService(mysql.NewOrderStore(db), knownCustomers{}, ordering.Config{ReservationTTL: 30 * time.Minute})
	render := func(o ordering.Order) ([]byte, error) { return []byte(o.ID.String()), nil }

	const clients, rounds = 12, 15
	var wg sync.WaitGroup
	failures := make(chan error, clients*rounds*3)
	for c := range clients {
		wg.Go(func() {
			for r := range rounds {
				switch c % 3 {
				case 0:
					if _, err := sweeper.ExpireDue(ctx); err != nil {
						failures <- fmt.Errorf("sweep: %w", err)
					}
				case 1:
					_, err := products.Adjust(ctx, catalog.Adjustment{ProductID: ids[r%2], Delta: int64(r%5 - 2 + 10*(r%2)), Reason: "race"})
					if err != nil && !errs.Is(err, errs.Invalid) {
						failures <- fmt.Errorf("adjust: %w", err)
					}
				default:
					o, _, err := placer.Place(ctx, ordering.PlaceRequest{CustomerID: uuid.New(), Lines: []ordering.Line{
						{ProductID: ids[0], Qty: int64(1 + r%3)}, {ProductID: ids[1], Qty: 1},
					}})
					if err != nil {
						failures <- fmt.Errorf("place: %w", err)
						continue
					}
					if _, err := placer.Confirm(ctx, o.ID, "k-"+o.ID.String(), render); err != nil && !errs.Is(err, errs.InvalidTransition) {
						failures <- fmt.Errorf("confirm: %w", err)
					}
				}
			}
		})
	}
	wg.Wait()
	noSnapshotConflicts(t, db, failures)
	if _, err := sweeper.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	var created, confirmed, expired int
	if err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM orders WHERE status = 'CREATED'),
		(SELECT COUNT(*) FROM orders WHERE status = 'CONFIRMED'), (SELECT COUNT(*) FROM orders WHERE status = 'EXPIRED')`).Scan(&created, &confirmed, &expired); err != nil {
		t.Fatal(err)
	}
	if created != 0 || confirmed+expired != clients/3*rounds {
		t.Fatalf("%d CREATED, %d CONFIRMED, %d EXPIRED; want none CREATED of %d", created, confirmed, expired, clients/3*rounds)
	}
	t.Logf("%d orders confirmed, %d expired", confirmed, expired)
	contract.CheckLedger(t, mysql.NewProductStore(db))
}

// snapshotDB returns a fresh orders database with snapshot isolation on
// (where the server has it) and two products with stock each, created
// through the catalogue.
func snapshotDB(t *testing.T, stock int64) (*mysql.DB, [2]uuid.UUID) {
	t.Helper()
	dbtest.RequireInnoDB(t)
	db, err := mysql.Open(t.Context(), mysql.Config{DSN: withSnapshotIsolation(t, dbtest.NewDatabase(t)), Schema: migrations.Orders})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	products := catalog.NewService(mysql.NewProductStore(db))
	var ids [2]uuid.UUID
	for i := range ids {
		p, err := products.Create(t.Context(), catalog.NewProduct{SKU: fmt.Sprint("HOT-", i), Name: "hot", PriceCents: 100, Stock: stock})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = p.ID
	}
	return db, ids
}

// noSnapshotConflicts reports every failure the clients sent, once they
// are done, and fails t if any attempt on db ended in a snapshot conflict.
func noSnapshotConflicts(t *testing.T, db *mysql.DB, failures chan error) {
	t.Helper()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	if r := db.Retries(); r.SnapshotConflicts != 0 {
		t.Errorf("%d attempts ended in a snapshot conflict, want none (%d deadlocks, %d lock wait timeouts)",
			r.SnapshotConflicts, r.Deadlocks, r.LockWaitTimeouts)
	}
}
