-- bench: the same request again and again.
-- Arguments (after --): method, path, token file ("" for none), body ("" for none).

local req

function init(args)
  local method, path, tokenFile, body = args[1], args[2], args[3], args[4]
  local headers = {}
  if tokenFile and #tokenFile > 0 then
    local f = assert(io.open(tokenFile, "r"))
    local token = f:read("*l")
    f:close()
    headers["Authorization"] = "Bearer " .. token
  end
  if body and #body > 0 then
    headers["Content-Type"] = "application/json"
  else
    body = nil
  end
  req = wrk.format(method, path, headers, body)
end

function request()
  return req
end
