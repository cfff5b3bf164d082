package postgres

import "time"

// ListenChecks has Listen ping a connection silent for interval, and give
// up on a ping, a connection or a LISTEN after timeout, so that a test of
// a connection that stops answering takes moments rather than seconds.
func ListenChecks(interval, timeout time.Duration) ListenOption {
	return func(c *listenConfig) {
		c.checkInterval, c.checkTimeout, c.connectTimeout = interval, timeout, timeout
	}
}
