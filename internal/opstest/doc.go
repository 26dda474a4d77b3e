// Package opstest holds the operations tests that need real processes: graceful shutdown of a
// `lingpai serve` subprocess with requests in flight, a database outage on a private MariaDB, and
// two replicas on one MySQL database. The helpers build the binary once per test run.
package opstest
