// Package e2e boots the real services on free ports against a real database
// and checks, over HTTP, what their clients can observe.
package e2e
