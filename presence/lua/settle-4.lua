--[[
  Decides one user's effective presence and commits a change to presence:state
  atomically with the facts it is based on, so concurrent presence processes (or
  a late event) can never commit a stale decision twice.

  Online = the user has a socket on some gateway (any field in route:{login}; the
  sweep removes dead gateways' fields) or an active window that has not ended.

  KEYS[1] route:{login}      hash node -> sockets
  KEYS[2] presence:active    zset login -> active-until ms
  KEYS[3] presence:state     hash login -> "1:<sinceMs>" / "0:<lastSeenMs>"
  KEYS[4] presence:online    set of logins whose state is online

  ARGV[1] login
  ARGV[2] now ms
  ARGV[3] "1": an offline decision may be committed now; "0": not yet (debounce)
  ARGV[4] last-seen hint ms (when the user was last known online; 0: unknown)

  Returns { online (0/1), outcome, last seen ms } where outcome is
  0 unchanged, 1 committed a change, 2 offline but not committed (ARGV[3] = "0").
  An ended active window is removed; its end counts as a moment the user was online.
]]
local login, now = ARGV[1], tonumber(ARGV[2])
local sockets = redis.call('HLEN', KEYS[1])
local activeUntil = tonumber(redis.call('ZSCORE', KEYS[2], login) or '0')
if activeUntil > 0 and activeUntil <= now then
  redis.call('ZREM', KEYS[2], login)
end
local online = sockets > 0 or activeUntil > now

local state = redis.call('HGET', KEYS[3], login)
local wasOnline = state and string.sub(state, 1, 1) == '1'
local since = state and tonumber(string.sub(state, 3)) or 0

if online then
  if wasOnline then
    return { 1, 0, since }
  end
  redis.call('HSET', KEYS[3], login, '1:' .. ARGV[2])
  redis.call('SADD', KEYS[4], login)
  return { 1, 1, now }
end
if not wasOnline then
  return { 0, 0, since }
end
if ARGV[3] ~= '1' then
  return { 0, 2, since }
end
local lastSeen = math.max(tonumber(ARGV[4]), activeUntil, since)
if lastSeen <= 0 or lastSeen > now then
  lastSeen = now
end
redis.call('HSET', KEYS[3], login, string.format('0:%d', lastSeen))
redis.call('SREM', KEYS[4], login)
return { 0, 1, lastSeen }
