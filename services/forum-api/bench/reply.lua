-- POST a reply to a random thread as one of many signed-in users (SESSIONS file: "cookie|csrftoken" per line)
local n = tonumber(os.getenv("THREADS") or "100")
local sessions = {}
for line in io.lines(os.getenv("SESSIONS")) do
  local cookie, csrf = line:match("^(.*)|(.*)$")
  sessions[#sessions + 1] = { cookie = cookie, csrf = csrf }
end
local i = 0
math.randomseed(os.time())
request = function()
  i = i + 1
  local s = sessions[(i % #sessions) + 1]
  local body = '{"post":"Benchmark reply number ' .. i .. ' with **some** markdown."}'
  return wrk.format("POST", string.format("/api/threads/%d/posts/", math.random(1, n)),
    { ["Content-Type"] = "application/json", ["Cookie"] = s.cookie, ["X-CSRFToken"] = s.csrf }, body)
end
-- result.lua sits beside this script, wherever wrk is started from
done = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "result.lua")

