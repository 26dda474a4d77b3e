// Package handlers is lingpai's HTTP layer: it parses requests, calls fosite and the account
// services, and writes responses. It holds no business rules.
package handlers
