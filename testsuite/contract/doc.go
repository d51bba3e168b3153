// Package contract holds one exported suite per storage port. Each suite
// states what every implementation of its port must do, and is run against
// each implementation, with concurrent cases against the real database.
package contract
