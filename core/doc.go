// Package core is the order platform's domain: customers, the product
// catalogue, orders and their orchestration, with the use cases over them and
// the ports they need. It depends on nothing but the standard library and
// uuid, so it can be imported and driven without any of the adapters.
package core
