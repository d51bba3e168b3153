package httpapi

import _ "embed"

// CustomersOpenAPI is the customers-api contract, served at /openapi.yaml.
//
//go:embed openapi/customers-api.yaml
var CustomersOpenAPI []byte

// OrdersOpenAPI is the orders-api contract, served at /openapi.yaml.
//
//go:embed openapi/orders-api.yaml
var OrdersOpenAPI []byte
