package mysql

import (
	"database/sql"
	"errors"
	"io/fs"

	"github.com/go-sql-driver/mysql"
	"github.com/golang-migrate/migrate/v4"
	migratemysql "github.com/golang-migrate/migrate/v4/database/mysql"
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

// applySchema brings the database up to the newest version in schema. It uses a
// connection pool of its own because golang-migrate closes the pool it is
// given when it is done.
func applySchema(cfg *mysql.Config, schema fs.FS) error {
	cfg = cfg.Clone()
	cfg.MultiStatements = true
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()

	src, err := iofs.New(schema, ".")
	if err != nil {
		return err
	}
	drv, err := migratemysql.WithInstance(db, &migratemysql.Config{})
	if err != nil {
		return err
	}
	m, err := migrate.NewWithInstance("iofs", src, cfg.DBName, drv)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return err
	}
	return nil
}
