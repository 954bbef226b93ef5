// Package e2e tests Parley as it is deployed: several real `parley serve`
// processes sharing one PostgreSQL and one Redis, with nginx (configured by
// deploy/nginx.conf) in front of them. The tests build ./cmd/parley once,
// start the processes they need on free loopback ports, and act as clients
// would: over REST and the WebSocket event channel only, checking the end
// result against PostgreSQL.
//
// Run them with make test, or with scripts/with-test-services.sh go test
// ./e2e, which provides PARLEY_TEST_DATABASE_URL, PARLEY_TEST_REDIS_URL and
// PARLEY_TEST_NGINX; redis-server must be on PATH. The package has no
// non-test code and is imported by nothing.
package e2e
