-- bench: POST a verification of a key drawn uniformly at random
-- from a file of keys, one per line.
-- Arguments (after --): keys file, path, random seed.

local keys = {}
local path = "/verify"
local headers = { ["Content-Type"] = "application/json" }
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

-- init runs in each thread's own Lua state, before the clock starts: the
-- keys are loaded there, not in the main state that only reports.
function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then keys[#keys + 1] = line end
  end
  if #keys == 0 then error("no keys in " .. args[1]) end
  path = args[2] or path
  -- A different sequence per thread and per run.
  math.randomseed((tonumber(args[3]) or os.time()) + 7919 * (thread_id or 0))
end

function request()
  return wrk.format("POST", path, headers, '{"key":"' .. keys[math.random(#keys)] .. '"}')
end
