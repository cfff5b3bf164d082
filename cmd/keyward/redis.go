package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/keyward/keyward/redis"
)

// RedisConfig chooses where keys' rate limits are counted: in this
// process's memory (no URL), or in a Redis that every instance shares.
type RedisConfig struct {
	URL         string        `flag:"redis-url" usage:"Redis URL (redis://[:password@]host:6379/0, rediss:// for TLS); when set,\nkeys' rate limits hold across every instance using this Redis, rather than\nfor each instance alone (set it with the environment variable if it holds a\npassword, which ps shows)"`
	FailureMode string        `flag:"redis-failure-mode" default:"open" usage:"when Redis does not answer, a verification that needs it is admitted\n(open: limits are not enforced meanwhile) or answers RATE_LIMITED (closed);\nkeys without rate limits never need Redis"`
	Timeout     time.Duration `flag:"redis-timeout" default:"100ms" usage:"deadline of each call to Redis; past it, the failure mode decides"`
	KeyPrefix   string        `flag:"redis-key-prefix" default:"keyward:rl:" usage:"start of the name of every key Keyward keeps in Redis, so that several\ndeployments can share one Redis"`
}

// validate reports settings that no flag parser can catch; none of its
// messages shows the URL.
func (c RedisConfig) validate() error {
	if _, err := redis.ParseFailureMode(c.FailureMode); err != nil {
		return usageError{fmt.Errorf("--redis-failure-mode %q: want open or closed", c.FailureMode)}
	}
	if c.Timeout <= 0 {
		return usageError{fmt.Errorf("--redis-timeout %v: must be positive", c.Timeout)}
	}
	if c.URL == "" {
		return nil
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
		return usageError{fmt.Errorf("--redis-url: want a redis://, rediss:// or unix:// URL")}
	}
	return nil
}

// name is the Redis URL for messages, its password masked.
func (c RedisConfig) name() string {
	u, err := url.Parse(c.URL)
	if err != nil {
		return "(Redis URL)"
	}
	return u.Redacted()
}

// open returns the shared rate limiter, or nil without a URL (each
// instance then counts in memory, the service's default).
//
// Redis not answering at start does not stop serve, in either failure
// mode: the limiter already decides what a verification that needs Redis
// gets while Redis is down, and recovers by itself once Redis answers.
// Refusing to start would protect nothing more, and would take down
// everything else (keys without limits, the management API) and, where
// instances are restarted on failure, keep them down until Redis is back.
// A malformed URL or setting, which no waiting mends, does stop it.
func (c RedisConfig) open(ctx context.Context, logger *slog.Logger) (*redis.Limiter, error) {
	if c.URL == "" {
		return nil, nil
	}
	mode, _ := redis.ParseFailureMode(c.FailureMode) // validated by Run
	redis.LogLibraryTo(logger)
	l, err := redis.New(c.URL,
		redis.WithKeyPrefix(c.KeyPrefix), redis.WithTimeout(c.Timeout), redis.WithFailureMode(mode),
		redis.WithLogger(logger))
	if err != nil {
		return nil, usageError{fmt.Errorf("--redis-url: %w", err)}
	}
	attrs := []any{"redis", c.name(), "failure_mode", string(mode), "timeout", c.Timeout}
	if err := l.Ping(ctx); err != nil {
		logger.Warn("Redis does not answer; serving anyway: verifications of keys with rate limits follow the failure mode until it does",
			append(attrs, "err", err)...)
	} else {
		logger.Info("rate limits are shared through Redis", attrs...)
	}
	return l, nil
}
