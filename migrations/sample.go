package migrations

import _ "embed"

// SampleData is a few customers and products with stock, for trying the
// system. It names both databases, and running it again changes nothing.
//
//go:embed sample/sample-data.sql
var SampleData []byte
