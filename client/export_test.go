package client

import (
	"context"
	"time"
)

// SetSleep replaces how c waits before a retry, so that a test sees each
// wait (and need not spend it).
func SetSleep(c *Client, sleep func(ctx context.Context, d time.Duration) error) {
	c.sleep = sleep
}

// SleepContext is how a client waits unless SetSleep says otherwise.
var SleepContext = sleepContext
