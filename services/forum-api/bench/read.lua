-- GET a random thread's first posts page (what a reader loads); THREADS env = number of seeded threads
local n = tonumber(os.getenv("THREADS") or "100")
local path = os.getenv("READ_PATH") or "/api/threads/%d/posts/"
math.randomseed(os.time())
-- a browser that has visited once carries the csrftoken cookie
local headers = { ["Cookie"] = "csrftoken=" .. string.rep("ab12", 12) }
-- SESSIONS file ("cookie|csrftoken" per line): read as those signed-in users, in turn (no guest page cache)
local sessions = {}
if os.getenv("SESSIONS") then
  for line in io.lines(os.getenv("SESSIONS")) do
    sessions[#sessions + 1] = { ["Cookie"] = line:match("^(.*)|") }
  end
end
local i = 0
-- PACE_MS > 0: each connection waits that long after a response before its next request (a paced, not saturating, load)
local pace = tonumber(os.getenv("PACE_MS") or "0")
if pace > 0 then
  delay = function() return pace end
end
request = function()
  i = i + 1
  local h = #sessions > 0 and sessions[(i % #sessions) + 1] or headers
  return wrk.format("GET", string.format(path, math.random(1, n)), h)
end
-- result.lua sits beside this script, wherever wrk is started from
done = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "result.lua")

