package httpapi

import _ "embed"

// CustomersOpenAPI is the customers-api contract, served at /openapi.yaml.
//
//go:embed openapi/customers-api.yaml
var CustomersOpenAPI []byte
