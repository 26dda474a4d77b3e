// Package clustertest holds the storage tests that need a real multi-primary cluster: two Store
// instances on two nodes of a private MariaDB Galera cluster (internal/testutil/galerarig) racing
// for the same one-time uses and counters, and node loss. Galera does not replicate row locks
// (SELECT ... FOR UPDATE), so these are the tests that show the compare-and-set writes and the
// retried transactions hold across nodes.
package clustertest
