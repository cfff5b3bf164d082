package redis

import goredis "github.com/redis/go-redis/v9"

// grantScript hands out units of the counters in KEYS, one per limit of
// one key: for KEYS[i], ARGV holds the units wanted, the limit and the
// counter's time to live in ms. It grants min(wanted, limit - handed
// out), never less than 0, adds the grant to the counter, and returns,
// for each counter, the grant and the count after it. A counter at zero
// is not created, so that asking costs Redis no memory.
var grantScript = goredis.NewScript(`
local out = {}
for i, key in ipairs(KEYS) do
	local want = tonumber(ARGV[3*i-2])
	local limit = tonumber(ARGV[3*i-1])
	local ttl = tonumber(ARGV[3*i])
	local used = tonumber(redis.call('GET', key) or '0')
	local grant = limit - used
	if grant > want then grant = want end
	if grant < 0 then grant = 0 end
	if grant > 0 then
		used = redis.call('INCRBY', key, grant)
		redis.call('PEXPIRE', key, ttl)
	end
	out[2*i-1] = grant
	out[2*i] = used
end
return out
`)

// returnScript gives back units of the counters in KEYS: ARGV[i] units
// of KEYS[i], never taking a counter below 0, and not at all to a
// counter that has expired (its window is over: what it counted no longer
// limits anything). It returns each counter's count after, or -1 for
// one that has expired.
var returnScript = goredis.NewScript(`
local out = {}
for i, key in ipairs(KEYS) do
	local used = redis.call('GET', key)
	if used then
		used = tonumber(used)
		local back = tonumber(ARGV[i])
		if back > used then back = used end
		if back > 0 then used = redis.call('DECRBY', key, back) end
		out[i] = used
	else
		out[i] = -1
	end
end
return out
`)
